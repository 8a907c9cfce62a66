"""Fast path vs the SimPy reference model: same seed, same scenario, statistics agree within sampling error.

The two models share clients, RTTs and message commits but draw their own phases and service times, so
they are compared like two independent samples: means within 4 combined standard errors (plus the small
model difference of where a snapshot is taken, bounded by a few service times), counts within a fraction.
"""

import math

import pytest

from tests.sim.conftest import run_one

SCENARIO = {"clients": 60, "duration": 1200.0, "message_interval": 40.0, "orders_per_client": 2}


def _close_means(fast, des, slack):
    def sd(r):
        # latency_stats carries no sd; bound it by the spread between p50 and p99 (generous)
        return max(r.latency_s.p99 - r.latency_s.mean, r.latency_s.mean) / 2.0

    se = math.sqrt(sd(fast) ** 2 / fast.latency_s.count + sd(des) ** 2 / des.latency_s.count)
    assert abs(fast.latency_s.mean - des.latency_s.mean) < 4 * se + slack


@pytest.mark.parametrize(
    "spec", ["poll:3", "poll:10", "seed-dashboard:3", "adaptive", "longpoll", "sse", "ws"]
)
def test_fast_path_agrees_with_simpy(spec):
    fast = run_one(spec, "fast", **SCENARIO)
    des = run_one(spec, "des", **SCENARIO)
    assert fast.extra["engine"] == "fast" and des.extra["engine"] == "des"
    _close_means(fast, des, slack=0.01)
    assert fast.messages.sent == des.messages.sent
    assert abs(fast.messages.delivered - des.messages.delivered) <= 0.01 * fast.messages.sent
    assert fast.requests_per_s == pytest.approx(des.requests_per_s, rel=0.03)
    assert fast.bytes_per_client_per_min == pytest.approx(des.bytes_per_client_per_min, rel=0.03)
    assert fast.server_utilization == pytest.approx(des.server_utilization, rel=0.1, abs=1e-4)
    polls = max(1, fast.extra["polls"])
    p = fast.empty_poll_fraction
    assert abs(p - des.empty_poll_fraction) < 4 * math.sqrt(max(p * (1 - p), 1e-4) / polls) + 0.02
    assert fast.open_connections == pytest.approx(des.open_connections, rel=0.05, abs=0.5)


def test_simpy_model_sees_queueing_under_load():
    """Deterministic 4 ms service, 60 clients polling every 0.5 s: the loop is ~50 % busy, requests wait."""
    des = run_one("poll:0.5", "des", clients=60, duration=120.0, service_time_ms=4.0, admins=0)
    fast = run_one("poll:0.5", "fast", clients=60, duration=120.0, service_time_ms=4.0, admins=0)
    assert 0.4 < des.server_utilization < 0.6
    assert des.queue_wait_s.mean > 0.0005
    assert fast.queue_wait_s.mean == pytest.approx(des.queue_wait_s.mean, rel=0.35)


@pytest.mark.parametrize("spec", ["poll:3", "adaptive", "longpoll", "sse"])
def test_both_engines_agree_on_a_calibrated_server(spec):
    """Connection scaling, a cold start, the commit on the delivery path and a CPU quota, in both models:
    the SimPy loop pays each penalty job by job, the fast path as its recursion over busy periods."""
    from sim.calibration import Calibration, ColdStart, ConnectionScaling

    cal = Calibration(
        connection_scaling=ConnectionScaling(points=((10, 1.0), (200, 1.5))),
        cold_start=ColdStart(max_ms=0.6, tau_ms=3.0),
        commit_ms=4.0,
    )
    fast = run_one(spec, "fast", calibration=cal, server_cpu_quota=0.3, **SCENARIO)
    des = run_one(spec, "des", calibration=cal, server_cpu_quota=0.3, **SCENARIO)
    _close_means(fast, des, slack=0.01)
    assert fast.extra["cold_start_busy_s"] > 0 and des.extra["cold_start_busy_s"] > 0
    assert fast.server_utilization == pytest.approx(des.server_utilization, rel=0.1)
    assert fast.extra["cold_start_busy_s"] == pytest.approx(des.extra["cold_start_busy_s"], rel=0.15)
    assert fast.extra["post_cold_start_s"] == pytest.approx(des.extra["post_cold_start_s"], rel=0.15)
    assert fast.open_connections == des.open_connections
