"""Closed forms in sim/analytic.py against textbook values and their domain errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import analytic as a


def test_poll_wait_is_uniform_over_the_interval() -> None:
    """Wait to the next tick is U[0, T]: mean T/2, p95 0.95 T, p0 0 and p100 T."""
    assert a.poll_wait_mean(3.0) == 1.5
    assert a.poll_wait_quantile(10.0, 0.95) == pytest.approx(9.5)
    assert a.poll_wait_quantile(10.0, 0.0) == 0.0
    assert a.poll_wait_quantile(10.0, 1.0) == 10.0


def test_one_shot_fetch_adds_service_and_half_an_rtt() -> None:
    """A delivery in the tick's own response costs S + RTT/2 on top of the wait (the issue's formula)."""
    assert a.poll_overhead_s(service_s=0.002, rtt_s=0.1, round_trips=1) == pytest.approx(0.052)
    assert a.poll_latency_mean(5.0, service_s=0.002, rtt_s=0.1) == pytest.approx(2.552)


def test_differential_poll_adds_a_round_trip_per_extra_request() -> None:
    """poll:T needs the conditional tick then a since-fetch: 2 S + 1.5 RTT."""
    assert a.poll_overhead_s(service_s=0.002, rtt_s=0.1, round_trips=2) == pytest.approx(0.154)
    assert a.poll_latency_quantile(10.0, 0.95, service_s=0.002, rtt_s=0.1, round_trips=2) == pytest.approx(
        9.654
    )


def test_push_latency_is_service_plus_one_way() -> None:
    assert a.push_latency_s(service_s=0.001, rtt_s=0.08) == pytest.approx(0.041)


def test_empty_poll_fraction_per_order_and_per_client() -> None:
    """e^(-lambda T) per order; K orders merge into rate K lambda, e^(-lambda K T)."""
    assert a.empty_poll_fraction(1 / 60, 3.0) == pytest.approx(math.exp(-0.05))
    assert a.empty_poll_fraction(1 / 60, 3.0, orders=3) == pytest.approx(math.exp(-0.15))
    assert a.empty_poll_fraction(0.0, 3.0) == 1.0


def test_every_other_poisson_message_has_the_erlang2_empty_window_probability() -> None:
    """Monte Carlo of an alternating sender: windows of T with no message to the customer (binomial 4 sd)."""
    rng = np.random.default_rng(5)
    lam, t, n = 0.2, 4.0, 200_000
    arrivals = np.cumsum(rng.exponential(1 / lam, 4 * n))
    mine = arrivals[int(rng.integers(0, 2)) :: 2]
    starts = rng.uniform(100.0, mine[-1] - t - 100.0, n)
    nxt = np.searchsorted(mine, starts)
    empty = mine[nxt] >= starts + t
    p = a.empty_poll_fraction(lam, t, alternating=True)
    assert empty.mean() == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / n))
    assert abs(p - math.exp(-lam * t / 2)) > 8 * math.sqrt(p * (1 - p) / n)  # not just Poisson at half rate


def test_mm1_wait_average_variance_at_half_load() -> None:
    """Daley's constant: rho (2 + 5 rho - 4 rho^2 + rho^3) / (1 - rho)^4 = 29 at rho = 0.5, mu = 1."""
    assert a.mm1_wait_average_variance(0.5, 1.0) == pytest.approx(29.0)
    assert a.mm1_wait_average_variance(50.0, 100.0) == pytest.approx(29.0 / 100.0**2)


def test_bozdag_periodic_publish_makes_98_percent_of_polls_useless() -> None:
    """Pull every 1 s against a publish every 50 s: 49 of 50 polls are empty."""
    assert a.periodic_empty_poll_fraction(1.0, 50.0) == pytest.approx(0.98)
    assert a.periodic_empty_poll_fraction(60.0, 50.0) == 0.0


def test_poll_request_rate_counts_ticks_and_since_fetches() -> None:
    """N/T ticks + N K (1 - e^(-lambda T)) / T since-fetches."""
    expected = 1000 / 3 + 1000 * 3 * (1 - math.exp(-3 / 60)) / 3
    assert a.poll_request_rate(1000, 3.0, orders_per_client=3, message_rate_per_s=1 / 60) == pytest.approx(
        expected
    )
    assert a.poll_request_rate(1000, 5.0) == pytest.approx(200.0)


def test_seed_dashboard_sends_one_plus_k_requests_per_tick() -> None:
    assert a.seed_dashboard_request_rate(1000, 3.0, orders_per_client=3) == pytest.approx(4000 / 3)


def test_mm1_at_half_load() -> None:
    """rho = 0.5, mu = 1: Wq = 1, W = 2, L = 1 (Kleinrock vol. 1, sec. 3.2)."""
    assert a.mm1_utilization(0.5, 1.0) == 0.5
    assert a.mm1_mean_wait(0.5, 1.0) == pytest.approx(1.0)
    assert a.mm1_mean_sojourn(0.5, 1.0) == pytest.approx(2.0)
    assert a.mm1_mean_number(0.5, 1.0) == pytest.approx(1.0)


def test_mm1_obeys_littles_law() -> None:
    lam, mu = 80.0, 100.0
    assert a.littles_law(arrival_rate=lam, mean_time_s=a.mm1_mean_sojourn(lam, mu)) == pytest.approx(
        a.mm1_mean_number(lam, mu)
    )


def test_md1_waits_half_as_long_as_mm1() -> None:
    for rho in (0.1, 0.5, 0.9):
        assert a.md1_mean_wait(rho, 1.0) == pytest.approx(a.mm1_mean_wait(rho, 1.0) / 2)


def test_mg1_interpolates_with_the_service_variability() -> None:
    """P-K: scv 1 is M/M/1, scv 0 is M/D/1, and the wait is linear in 1 + scv."""
    assert a.mg1_mean_wait(0.7, 1.0, 1.0) == pytest.approx(a.mm1_mean_wait(0.7, 1.0))
    assert a.mg1_mean_wait(0.7, 1.0, 0.0) == pytest.approx(a.md1_mean_wait(0.7, 1.0))
    assert a.mg1_mean_wait(0.7, 1.0, 3.0) == pytest.approx(2 * a.mm1_mean_wait(0.7, 1.0))


@pytest.mark.parametrize(
    ("servers", "load", "expected"),
    [
        (1, 0.5, 0.5),  # M/M/1: P(wait) = rho
        (2, 1.0, 1 / 3),
        (3, 2.0, 4 / 9),
        (5, 4.0, 0.5541),  # tabulated Erlang C
        (10, 8.0, 0.4092),  # the classic call-centre example
    ],
)
def test_erlang_c_matches_tabulated_values(servers: int, load: float, expected: float) -> None:
    assert a.erlang_c(servers, load) == pytest.approx(expected, abs=5e-5)


def test_erlang_c_agrees_with_the_factorial_formula() -> None:
    c, load = 20, 17.0
    rho = load / c
    top = load**c / math.factorial(c) / (1 - rho)
    direct = top / (sum(load**k / math.factorial(k) for k in range(c)) + top)
    assert a.erlang_c(c, load) == pytest.approx(direct, rel=1e-12)


def test_erlang_c_stays_finite_for_thousands_of_servers() -> None:
    value = a.erlang_c(5000, 4900.0)
    assert 0 < value < 1


def test_mmc_with_one_server_is_mm1() -> None:
    assert a.mmc_mean_wait(1, 0.6, 1.0) == pytest.approx(a.mm1_mean_wait(0.6, 1.0))


def test_mmc_two_servers_at_half_load() -> None:
    """c = 2, lambda = 1, mu = 1: Wq = C / (c mu - lambda) = (1/3) / 1."""
    assert a.mmc_mean_wait(2, 1.0, 1.0) == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    "call",
    [
        lambda: a.mm1_mean_wait(1.0, 1.0),
        lambda: a.mm1_mean_sojourn(2.0, 1.0),
        lambda: a.md1_mean_wait(1.5, 1.0),
        lambda: a.mg1_mean_wait(1.0, 1.0, 1.0),
        lambda: a.erlang_c(2, 2.0),
        lambda: a.mmc_mean_wait(4, 5.0, 1.0),
    ],
)
def test_unstable_queue_is_a_clear_error(call) -> None:
    with pytest.raises(ValueError, match=r"unstable: utilisation rho = .* >= 1"):
        call()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: a.poll_wait_mean(0.0), "interval_s must be a positive"),
        (lambda: a.poll_wait_quantile(3.0, 1.5), "quantile must be between 0 and 1"),
        (lambda: a.poll_overhead_s(round_trips=0), "round_trips must be a whole number >= 1"),
        (lambda: a.poll_overhead_s(rtt_s=-1.0), "rtt_s must be a finite number >= 0"),
        (lambda: a.empty_poll_fraction(-0.1, 3.0), "message_rate_per_s"),
        (lambda: a.poll_request_rate(0, 3.0), "clients must be a whole number >= 1"),
        (lambda: a.erlang_c(0, 0.5), "servers must be a whole number >= 1"),
        (lambda: a.mm1_mean_wait(0.5, float("nan")), "service_rate must be a positive"),
        (lambda: a.mg1_mean_wait(0.5, 1.0, -1.0), "service_scv"),
        (lambda: a.littles_law(arrival_rate=-1.0, mean_time_s=1.0), "arrival_rate"),
    ],
)
def test_bad_inputs_name_the_parameter(call, message: str) -> None:
    with pytest.raises(a.AnalyticError, match=message):
        call()


@settings(derandomize=True)
@given(servers=st.integers(1, 200), utilisation=st.floats(0.01, 0.99))
def test_erlang_c_is_a_probability_that_falls_as_servers_are_added(servers: int, utilisation: float) -> None:
    """At a fixed offered load, one more server never makes waiting more likely."""
    load = servers * utilisation
    c = a.erlang_c(servers, load)
    assert 0.0 < c < 1.0
    assert a.erlang_c(servers + 1, load) <= c + 1e-12


@settings(derandomize=True)
@given(servers=st.integers(2, 50), utilisation=st.floats(0.05, 0.95))
def test_one_shared_queue_waits_less_than_separate_queues(servers: int, utilisation: float) -> None:
    """M/M/c with load lambda waits less than c separate M/M/1 queues each fed lambda/c (pooling)."""
    lam = servers * utilisation
    assert a.mmc_mean_wait(servers, lam, 1.0) < a.mm1_mean_wait(lam / servers, 1.0)
