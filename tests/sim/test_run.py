"""simulate(): one Summary for all strategies, reproducible from the seed, records in the shared layout."""

import math

import numpy as np
import pytest

from pollbench.results import DELIVERY_COLUMNS
from pollbench.scenario import Scenario
from sim.run import simulate

SMALL = {"clients": 40, "duration": 600.0, "strategies": ("poll:5", "sse")}


def test_summary_has_every_strategy_and_source_sim():
    run = simulate(Scenario(**SMALL))
    s = run.summary
    assert s.source == "sim" and s.seed == 1
    assert list(s.strategies) == ["poll:5", "sse"]
    assert s.scenario["clients"] == 40
    assert "calibration_values" in s.scenario
    assert math.isfinite(s.strategies["poll:5"].energy_j_per_client_hour)


def test_same_seed_same_numbers_other_seed_other_numbers():
    a = simulate(Scenario(**SMALL)).summary.strategies["poll:5"]
    b = simulate(Scenario(**SMALL)).summary.strategies["poll:5"]
    c = simulate(Scenario(**SMALL, seed=2)).summary.strategies["poll:5"]
    assert a == b
    assert a.latency_s.mean != c.latency_s.mean


def test_adding_a_strategy_does_not_change_another():
    alone = simulate(Scenario(**{**SMALL, "strategies": ("poll:5",)})).summary.strategies["poll:5"]
    both = simulate(Scenario(**SMALL)).summary.strategies["poll:5"]
    assert alone == both


def test_records_follow_the_delivery_columns():
    run = simulate(Scenario(**SMALL))
    cols = run.deliveries_columns()
    assert set(DELIVERY_COLUMNS) <= set(cols)
    n = {len(cols[c]) for c in DELIVERY_COLUMNS}
    assert len(n) == 1
    np.testing.assert_allclose(cols["latency_s"], cols["received_at"] - cols["created_at"])
    assert set(cols["strategy"]) == {"poll:5", "sse"}


def test_auto_engine_uses_simpy_for_tiny_runs():
    run = simulate(Scenario(clients=5, duration=120.0, strategies=("poll:5",)), engine="auto")
    assert run.summary.strategies["poll:5"].extra["engine"] == "des"


def test_worker_processes_give_the_serial_results():
    serial = simulate(Scenario(**SMALL), workers=1).summary.strategies
    forked = simulate(Scenario(**SMALL), workers=2).summary.strategies
    assert serial == forked
    assert list(forked) == ["poll:5", "sse"]


def test_posts_count_in_the_server_busy_time_whatever_the_strategy():
    """Every committed message was a POST: its calibrated cost is in the utilization, push or poll."""
    from sim.calibration import Calibration, ServiceTimes

    def busy(post_ms: float) -> dict[str, float]:
        cal = Calibration(service_ms=ServiceTimes(post=post_ms))
        sc = Scenario(clients=200, duration=600.0, message_interval=20.0, strategies=("sse", "poll:3"))
        return {k: r.server_utilization for k, r in simulate(sc, calibration=cal).summary.strategies.items()}

    without, with_posts = busy(0.0), busy(5.0)
    posts = 200 * 3 * 600.0 / 20.0  # orders x duration / interval, Poisson: within 5 sd of the mean
    expected, tol = posts * 0.005 / 600.0, 5 * math.sqrt(posts) * 0.005 / 600.0
    for spec in ("sse", "poll:3"):
        assert with_posts[spec] - without[spec] == pytest.approx(expected, abs=tol)


SPECS = ("poll:3", "seed-dashboard:3", "adaptive", "longpoll", "sse", "ws")


def _results(calibration=None, **scenario):
    from sim.calibration import Calibration

    sc = Scenario(clients=150, duration=600.0, message_interval=30.0, strategies=SPECS, **scenario)
    return simulate(sc, calibration=calibration or Calibration(), workers=1).summary.strategies


def _rel(spec: str) -> float:
    """Exactly twice the work, except where a chain's next request leaves a service time later (long-poll
    re-issues, the seed's sequential GETs), which moves a few requests across the run's end."""
    return 2e-3 if spec in ("longpoll", "seed-dashboard:3") else 1e-9


def test_a_connection_factor_of_two_doubles_every_service_time():
    """Factor 2 at any connection count: the same jobs, each twice as long, posts included."""
    from sim.calibration import Calibration, ConnectionScaling

    base = _results()
    doubled = _results(Calibration(connection_scaling=ConnectionScaling(points=((1, 2.0),))))
    for spec in SPECS:
        rel = _rel(spec)
        assert doubled[spec].extra["offered_load"] == pytest.approx(
            2 * base[spec].extra["offered_load"], rel=rel
        )
        assert doubled[spec].extra["connection_factor"] == 2.0


def test_half_a_core_doubles_the_busy_share_of_its_quota_and_leaves_bytes_alone():
    base = _results()
    halved = _results(server_cpu_quota=0.5)
    for spec in SPECS:
        rel = _rel(spec)
        assert halved[spec].extra["offered_load"] == pytest.approx(
            2 * base[spec].extra["offered_load"], rel=rel
        )
        assert halved[spec].extra["server_cpu_quota"] == 0.5
        assert base[spec].extra["server_cpu_quota"] is None
        if rel < 1e-6:
            assert halved[spec].bytes_per_client_per_min == base[spec].bytes_per_client_per_min
            assert halved[spec].requests_per_s == base[spec].requests_per_s


def test_every_strategy_reports_the_connections_it_holds():
    """150 customers with 3 orders and one admin on one process: pollers keep one keep-alive connection
    each (the admin its six), long-poll one per order, push one stream per client."""
    r = _results()
    assert r["poll:3"].open_connections == 150 + 6
    assert r["adaptive"].open_connections == 150 + 6
    assert r["seed-dashboard:3"].open_connections == 151
    assert r["longpoll"].open_connections == 150 * 3 + 1
    assert r["sse"].open_connections == r["ws"].open_connections == 151


def test_connection_memory_counts_keepalives_and_streams_at_their_own_cost():
    from sim.calibration import Calibration

    cal = Calibration(memory_per_keepalive_bytes=10_000, memory_per_connection_bytes=50_000)
    r = _results(cal)
    assert r["poll:3"].extra["connection_memory_bytes"] == pytest.approx(156 * 10_000)
    assert r["sse"].extra["connection_memory_bytes"] == pytest.approx(151 * 50_000)
    lp = r["longpoll"].extra
    parked = lp["streams"]
    assert 0.95 * 451 < parked < 451  # parked nearly all the time; keep-alive between answer and re-issue
    assert lp["connection_memory_bytes"] == pytest.approx(parked * 50_000 + (451 - parked) * 10_000)


def test_posts_pay_the_cold_start_of_an_idle_loop():
    """Push with rare messages and no heartbeats to speak of: the loop is idle nearly all the time and
    every gap is far longer than tau, so each POST pays the full penalty (the light-load extreme)."""
    from sim.calibration import Calibration, ColdStart

    cal = Calibration(cold_start=ColdStart(max_ms=0.5, tau_ms=1.0))
    sc = Scenario(clients=50, admins=0, duration=600.0, message_interval=300.0, strategies=("ws:100000",))
    r = simulate(sc, calibration=cal, workers=1).summary.strategies["ws:100000"]
    posts = (r.extra["post_busy_s"] - r.extra["post_cold_start_s"]) / 0.001  # calibrated 1 ms per POST
    assert posts == pytest.approx(50 * 3 * 600 / 300, rel=0.25)  # Poisson count around its mean
    assert r.extra["post_cold_start_s"] == pytest.approx(posts * 0.0005, rel=0.01)
    # every push of a message to its customer found the loop idle too
    assert r.extra["cold_start_busy_s"] == pytest.approx(r.messages.sent * 0.0005, rel=0.01)
