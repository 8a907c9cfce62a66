"""reference_server.metrics: request and byte counts kept as plain ints, exposed as Prometheus counters."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from reference_server.metrics import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_responses_are_counted_by_route_method_and_status():
    metrics = Metrics()
    for status in (200, 200, 304):
        metrics.count_response("/api/messages", "GET", status, 0)
    got = samples(metrics)
    labels = (("method", "GET"), ("route", "/api/messages"))
    assert got[("pollbench_http_requests_total", (*labels, ("status", "200")))] == 2
    assert got[("pollbench_http_requests_total", (*labels, ("status", "304")))] == 1


def test_body_bytes_are_summed_per_route_including_push_bytes():
    metrics = Metrics()
    metrics.count_response("/api/messages", "GET", 200, 37)
    metrics.count_response("/api/messages", "GET", 200, 40)
    metrics.count_bytes("/api/stream", 99)
    got = samples(metrics)
    assert got[("pollbench_http_response_bytes_total", (("route", "/api/messages"),))] == 77
    assert got[("pollbench_http_response_bytes_total", (("route", "/api/stream"),))] == 99


def test_a_response_without_a_body_adds_no_bytes_series():
    metrics = Metrics()
    metrics.count_response("/api/orders", "GET", 304, 0)
    assert not any(name == "pollbench_http_response_bytes_total" for name, _ in samples(metrics))


def test_every_series_has_a_created_sample_like_a_prometheus_counter():
    metrics = Metrics()
    metrics.count_response("/api/orders", "GET", 200, 10)
    names = {name for name, _ in samples(metrics)}
    assert {"pollbench_http_requests_created", "pollbench_http_response_bytes_created"} <= names
