"""sim.reconnect: the reconnect storm after a restart, checked against closed forms.

Empirical distributions are compared with their exact CDFs through the Dvoretzky-Kiefer-Wolfowitz bound:
``sup |F_n - F| <= sqrt(ln(2/alpha) / (2n))`` with probability 1 - alpha (alpha = 1e-6 here).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pollbench.reconnect import DEFAULT_BACKOFF, Backoff
from pollbench.strategies import parse_strategy
from sim.calibration import Calibration
from sim.reconnect import Restart, reconnect_storm, retry_until_up, storm_load
from sim.server import ServiceModel

CALIBRATED = ServiceModel(calibration=Calibration())
ALPHA = 1e-6


def _dkw(n: int) -> float:
    return math.sqrt(math.log(2 / ALPHA) / (2 * n))


def _sup_distance(samples: np.ndarray, cdf) -> float:
    """Kolmogorov distance between the samples' empirical CDF and `cdf`."""
    x = np.sort(samples)
    f = cdf(x)
    n = x.size
    return float(max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n)))


def _rng(seed: int = 1) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_without_downtime_push_clients_are_back_uniformly_over_the_first_ceiling() -> None:
    n = 50_000
    load = storm_load(parse_strategy("sse"), Restart(downtime_s=0.0, clients=n), CALIBRATED, _rng())
    c0 = DEFAULT_BACKOFF.initial_s
    assert load.failed.sum() == 0
    assert _sup_distance(load.back_s, lambda x: np.clip(x / c0, 0, 1)) < _dkw(n)


def test_a_long_poll_client_is_back_when_the_last_of_its_order_connections_is() -> None:
    """Each of K independent loops is uniform on [0, c0]: their maximum has CDF (t/c0)^K."""
    n, k = 30_000, 3
    restart = Restart(downtime_s=0.0, clients=n, orders_per_client=k)
    load = storm_load(parse_strategy("longpoll"), restart, CALIBRATED, _rng())
    c0 = DEFAULT_BACKOFF.initial_s
    assert load.reconnects_s.size == n * k
    assert _sup_distance(load.back_s, lambda x: np.clip(x / c0, 0, 1) ** k) < _dkw(n)


def test_without_jitter_refused_attempts_follow_the_geometric_ceiling_sequence() -> None:
    policy = Backoff(initial_s=0.5, factor=2.0, cap_s=4.0, jitter=False)
    downtime = 20.0
    # Attempts at the partial sums of 0.5, 1, 2, 4, 4, 4...: 0.5 1.5 3.5 7.5 11.5 15.5 19.5 | 23.5.
    sums = np.cumsum([policy.ceiling(a) for a in range(20)])
    refused = int(np.sum(sums < downtime))
    load = storm_load(parse_strategy("ws"), Restart(downtime_s=downtime, clients=100, backoff=policy),
                      CALIBRATED, _rng())  # fmt: skip
    assert refused == 7
    assert set(load.failed.tolist()) == {refused}
    assert set(load.back_s.tolist()) == {float(sums[refused])}


def test_a_poller_refused_at_its_tick_retries_on_the_ceiling_sequence_from_that_tick() -> None:
    policy = Backoff(initial_s=0.5, factor=2.0, cap_s=4.0, jitter=False)
    downtime, interval = 6.0, 3.0
    load = storm_load(parse_strategy("poll:3"), Restart(downtime_s=downtime, clients=2000, backoff=policy),
                      CALIBRATED, _rng())  # fmt: skip
    sums = np.concatenate([[0.0], np.cumsum([policy.ceiling(a) for a in range(20)])])
    phase = load.back_s - sums[load.failed]  # the tick that noticed: back time minus the waits it took
    assert np.all((phase >= 0) & (phase < interval))
    last_refused = phase + sums[load.failed - 1]
    assert np.all(last_refused < downtime) and np.all(load.back_s >= downtime)


def test_retry_rounds_stop_once_every_attempt_lands_after_the_downtime() -> None:
    at, failed = retry_until_up(np.array([0.1, 5.0, 9.9]), 0, 5.0, DEFAULT_BACKOFF, _rng())
    assert failed[1] == 0 and at[1] == 5.0  # an attempt exactly when the port opens gets through
    assert np.all(at >= 5.0) and failed[0] >= 1 and failed[2] == 0


def test_fraction_back_by_t_matches_the_renewal_cdf_of_uniform_jitter() -> None:
    """Constant ceiling 1 s: attempts form a renewal process of U(0,1) gaps, whose renewal density on [0,1]
    is e^x. The first attempt after D is back by t (D <= t <= 1) with probability (t - D) e^D, and the
    expected refusals are e^D - 1."""
    n, downtime = 60_000, 0.5
    policy = Backoff(initial_s=1.0, factor=1.0, cap_s=1.0)
    load = storm_load(parse_strategy("sse"), Restart(downtime_s=downtime, clients=n, backoff=policy),
                      CALIBRATED, _rng())  # fmt: skip
    t = np.linspace(downtime, 1.0, 11)
    empirical = np.searchsorted(np.sort(load.back_s), t, side="right") / n
    assert np.max(np.abs(empirical - (t - downtime) * math.exp(downtime))) < _dkw(n)
    mean_refusals = math.exp(downtime) - 1  # N(D) has variance below its mean here (gaps are bounded)
    assert load.failed.mean() == pytest.approx(mean_refusals, abs=5 * math.sqrt(mean_refusals / n))


def test_pollers_whose_tick_falls_after_a_short_downtime_never_notice() -> None:
    """A random phase on [0, T): a share D/T of the pollers ticks during the downtime."""
    n, downtime = 40_000, 1.2
    load = storm_load(parse_strategy("poll:3"), Restart(downtime_s=downtime, clients=n), CALIBRATED, _rng())
    p = downtime / 3.0
    noticed = float(np.mean(load.failed > 0))
    assert noticed == pytest.approx(p, abs=5 * math.sqrt(p * (1 - p) / n))


def test_a_storm_above_the_loops_capacity_queues_as_the_fluid_bound_says() -> None:
    """n reconnects spread uniformly over c0 seconds, each taking s with n*s = 2*c0: the loop falls behind at
    rate (n*s - c0)/c0, so the last arrivals wait n*s - c0 and the loop is busy for n*s without a break."""
    n, s, c0 = 20_000, 1e-4, 1.0
    forced = ServiceModel(calibration=Calibration(), forced_ms=s * 1000)
    restart = Restart(downtime_s=0.0, clients=n, backoff=Backoff(initial_s=c0, cap_s=c0))
    storm = reconnect_storm(parse_strategy("sse"), restart, forced, _rng())
    # The order statistics stray from k*c0/n by at most c0*(DKW + 1/n); the wait gathers two such errors.
    slack = 2 * c0 * (_dkw(n) + 1 / n) + s
    assert storm.wait_peak_s == pytest.approx(n * s - c0, abs=slack)
    assert storm.saturated_s == pytest.approx(n * s, abs=slack)
    assert storm.capacity_per_s == pytest.approx(1 / s)
    assert storm.peak_rate_per_s > storm.capacity_per_s


def _kingman_p99_bound(rate: float, service: float) -> float:
    """M/D/1: P(W > x) <= exp(-theta x) with rate*(exp(theta*s) - 1) = theta (Kingman / Lundberg)."""
    lo, hi = 1e-9 / service, 50.0 / service
    for _ in range(200):
        mid = (lo + hi) / 2
        if rate * (math.exp(mid * service) - 1) < mid:
            lo = mid
        else:
            hi = mid
    return math.log(100) / lo


def test_a_storm_below_capacity_keeps_waits_within_the_md1_tail_bound() -> None:
    """Uniform arrivals of a fixed count are a Poisson process given its count: an M/D/1 queue at load 0.5,
    whose 99th percentile wait Kingman's exponential bound caps; the loop never stays busy for long. (Pings
    start 30 s after a connect, after the 4 s storm.)"""
    n, s = 20_000, 1e-4
    c0 = n * s / 0.5
    forced = ServiceModel(calibration=Calibration(), forced_ms=s * 1000)
    restart = Restart(downtime_s=0.0, clients=n, backoff=Backoff(initial_s=c0, cap_s=c0))
    storm = reconnect_storm(parse_strategy("ws"), restart, forced, _rng())
    assert 0 < storm.wait_p99_s <= _kingman_p99_bound(n / c0, s)
    assert storm.saturated_s < 0.01 * c0


def test_peak_arrival_rate_stays_near_normal_without_downtime_and_jumps_after_one() -> None:
    n = 20_000
    quiet = reconnect_storm(parse_strategy("poll:10"), Restart(downtime_s=0.0, clients=n), CALIBRATED, _rng())
    per_bin = n / 10 * quiet.rate_window_s  # ~200 polls per 0.1 s bin; the busiest of ~100 bins
    assert quiet.normal_rate_per_s == n / 10
    assert quiet.peak_rate_per_s <= quiet.normal_rate_per_s * (1 + 5 / math.sqrt(per_bin))
    storm = reconnect_storm(
        parse_strategy("poll:10"), Restart(downtime_s=15.0, clients=n), CALIBRATED, _rng()
    )
    assert storm.peak_rate_per_s > 2 * storm.normal_rate_per_s
    assert storm.failed_attempts >= n and storm.back_50_s >= 15.0


def test_back_times_are_ordered_and_bounded_by_downtime_plus_the_cap() -> None:
    storm = reconnect_storm(parse_strategy("sse"), Restart(downtime_s=30.0, clients=5000), CALIBRATED, _rng())
    assert 30.0 <= storm.back_50_s <= storm.back_99_s <= storm.back_100_s <= 30.0 + DEFAULT_BACKOFF.cap_s
    assert storm.notice == "at the crash" and storm.backoff["cap_s"] == DEFAULT_BACKOFF.cap_s


def test_adaptive_clients_notice_within_their_current_interval() -> None:
    """Without downtime a poller is back at its next tick: uniform over the interval it polls at."""
    n = 20_000
    restart = Restart(downtime_s=0.0, clients=n, poll_interval_s=6.0)
    load = storm_load(parse_strategy("adaptive"), restart, CALIBRATED, _rng())
    assert _sup_distance(load.back_s, lambda x: np.clip(x / 6.0, 0, 1)) < _dkw(n)


def test_equal_seeds_give_equal_storms() -> None:
    restart = Restart(downtime_s=8.0, clients=3000)
    one = reconnect_storm(parse_strategy("adaptive"), restart, CALIBRATED, _rng(4))
    two = reconnect_storm(parse_strategy("adaptive"), restart, CALIBRATED, _rng(4))
    assert one == two and one.notice == "at their next poll"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"downtime_s": -1.0, "clients": 10}, "downtime"),
        ({"downtime_s": 1.0, "clients": 0}, "at least one client"),
        ({"downtime_s": 1.0, "clients": 1, "rate_window_s": 0.0}, "rate_window_s"),
        ({"downtime_s": 1.0, "clients": 1, "poll_interval_s": math.nan}, "poll_interval_s"),
    ],
)
def test_a_restart_with_bad_numbers_is_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Restart(**kwargs)  # type: ignore[arg-type]


def test_a_simulation_with_a_restart_carries_one_storm_per_strategy() -> None:
    from pollbench.scenario import Scenario
    from sim.run import simulate

    scenario = Scenario(clients=400, duration=120.0, server_processes=2, strategies=("poll:5", "sse"))
    run = simulate(scenario, calibration=Calibration(), workers=1, restart_downtime_s=5.0)
    for result in run.summary.strategies.values():
        storm = result.reconnect_storm
        assert storm is not None and storm.clients == 200 and storm.downtime_s == 5.0
    plain = simulate(scenario, calibration=Calibration(), workers=1)
    assert all(r.reconnect_storm is None for r in plain.summary.strategies.values())
