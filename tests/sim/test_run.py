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
