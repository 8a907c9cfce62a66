"""Reading the server's Prometheus text: CPU seconds, memory, open push connections."""

from __future__ import annotations

import math

import pytest

from loadtests.server_metrics import MetricsSample, ServerWatch, parse_metrics

TEXT = """\
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 6.25e+07
# TYPE pollbench_open_push_connections gauge
pollbench_open_push_connections{kind="sse"} 40.0
pollbench_open_push_connections{kind="ws"} 2.0
"""


def test_parse_picks_cpu_rss_and_push_gauges() -> None:
    assert parse_metrics(TEXT) == (12.5, 62_500_000.0, {"sse": 40.0, "ws": 2.0})


def test_missing_metrics_are_nan() -> None:
    cpu, rss, push = parse_metrics("")
    assert math.isnan(cpu) and math.isnan(rss) and push == {}


def test_watch_summary_uses_first_and_last_sample() -> None:
    w = ServerWatch("http://127.0.0.1:1")
    w.samples += [
        MetricsSample(at=0.0, cpu_seconds=1.0, rss_bytes=10.0, open_push={"sse": 0.0}),
        MetricsSample(at=5.0, cpu_seconds=2.0, rss_bytes=30.0, open_push={"sse": 10.0}),
        MetricsSample(at=10.0, cpu_seconds=4.0, rss_bytes=20.0, open_push={"sse": 20.0}),
    ]
    s = w.summary()
    assert (s["cpu_seconds"], s["utilization"], s["rss_bytes_max"]) == (3.0, 0.3, 30.0)
    assert (s["open_connections_mean"], s["open_connections_max"]) == (15.0, 20.0)


def test_unreachable_server_is_a_missing_sample_not_an_error() -> None:
    w = ServerWatch("http://127.0.0.1:1")
    assert w.sample() is None and w.summary() == {"scrapes": 0}


def test_under_a_quota_utilization_is_the_busy_share_of_the_quota() -> None:
    w = ServerWatch("http://127.0.0.1:1", cpu_quota=0.2)
    w.samples += [
        MetricsSample(at=0.0, cpu_seconds=1.0, rss_bytes=10.0),
        MetricsSample(at=10.0, cpu_seconds=2.5, rss_bytes=10.0),
    ]
    s = w.summary()
    assert (s["cpu_cores"], s["cpu_quota"]) == (0.15, 0.2)
    assert s["utilization"] == pytest.approx(0.75)


def test_unknown_cpu_stays_nan_under_a_quota() -> None:
    w = ServerWatch("http://127.0.0.1:1", cpu_quota=0.5)
    w.samples += [
        MetricsSample(at=0.0, cpu_seconds=math.nan, rss_bytes=10.0),
        MetricsSample(at=1.0, cpu_seconds=math.nan, rss_bytes=10.0),
    ]
    s = w.summary()
    assert math.isnan(s["utilization"]) and math.isnan(s["cpu_cores"])
