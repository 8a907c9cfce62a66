"""The simulator against closed forms (sim/analytic.py), within tolerances derived from each sample size.

Every statistical assertion allows a false-alarm probability of about 6e-5 (the runs are seeded, so each
test is deterministic; the bound says how unlucky a seed would have to be to fail a correct simulator):

- mean of n independent samples with known standard deviation sigma: |mean - mu| <= 4 sigma / sqrt(n)
  (two-sided normal tail at 4: 6.3e-5);
- mean of an autocorrelated sequence (queue waits, which carry the congestion of the customers before
  them): batch means, 40 batches; the batch means are nearly independent when a batch is much longer than
  the queue's relaxation time (~1/(mu(1 - sqrt(rho))^2), a dozen services at rho = 0.5, against thousands
  of customers per batch), so |mean - mu| <= t * s_batch / sqrt(40) with t = 4.5 (Student t, 39 degrees of
  freedom, two-sided 6e-5);
- a quantile of n iid samples: the Dvoretzky-Kiefer-Wolfowitz inequality P(sup |F_n - F| > eps) <=
  2 exp(-2 n eps^2) gives eps = sqrt(ln(2/alpha) / (2n)); on U[0, T] (density 1/T) a CDF error eps is a
  quantile error eps*T;
- a fraction of n Bernoulli trials: |p_hat - p| <= 4 sqrt(p(1 - p)/n).

Edge effects of a finite run (the first tick's window cut at t = 0, messages committed after the last tick)
are bounded deterministically and added to the tolerance where they matter.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from pollbench.scenario import Scenario, load_scenario
from sim import analytic
from sim.calibration import Calibration, ServiceTimes
from sim.energy import RadioModel, periodic_energy_per_hour
from sim.run import simulate
from sim.scenarios import scenario_path
from sim.server import fifo_waits, shared_queue_waits

Z = 4.0
"""Normal quantile for a two-sided false-alarm probability of 6.3e-5."""
BATCHES = 40
T_BATCH = 4.5
"""Student t quantile, 39 degrees of freedom, two-sided 6e-5 (numerically integrated)."""
ALPHA = 1e-4
"""DKW false-alarm probability."""


def batch_mean_tolerance(samples: np.ndarray) -> tuple[float, float]:
    """Mean of an autocorrelated sequence and its batch-means half-width (see the module docstring)."""
    m = samples.size // BATCHES
    means = samples[: m * BATCHES].reshape(BATCHES, m).mean(axis=1)
    return float(means.mean()), T_BATCH * float(means.std(ddof=1)) / math.sqrt(BATCHES)


def dkw_epsilon(n: int) -> float:
    """Uniform CDF error bound of n iid samples at false-alarm probability ALPHA."""
    return math.sqrt(math.log(2 / ALPHA) / (2 * n))


def binomial_tolerance(p: float, n: int) -> float:
    return Z * math.sqrt(p * (1 - p) / n)


def poisson_arrivals(rng: np.random.Generator, rate: float, n: int) -> np.ndarray:
    return np.cumsum(rng.exponential(1 / rate, n))


def sim_scenario(**fields: Any) -> Scenario:
    """A validation scenario: fixed RTT (sigma 0) unless said otherwise."""
    base: dict[str, Any] = {"rtt_ms": 50.0, "rtt_sigma": 0.0, "admins": 0, "orders_per_client": 1}
    return Scenario(**{**base, **fields})


def only_result(run: Any) -> Any:
    (result,) = run.summary.strategies.values()
    return result


# --- the FIFO server (Lindley's recursion) against single-server queues -----------------------------------


def test_fifo_server_mean_wait_matches_mm1() -> None:
    """M/M/1 at rho = 0.5, n = 200 000: Wq = 1; Var(mean of n waits) = sigma^2/n with Daley's sigma^2 = 29.

    The known asymptotic variance (analytic.mm1_wait_average_variance) replaces batch means here.
    """
    rng = np.random.default_rng(11)
    n, lam, mu = 200_000, 0.5, 1.0
    waits = fifo_waits(poisson_arrivals(rng, lam, n), rng.exponential(1 / mu, n))
    tol = Z * math.sqrt(analytic.mm1_wait_average_variance(lam, mu) / n)
    assert tol < 0.06 * analytic.mm1_mean_wait(lam, mu)  # tight enough to tell M/M/1 from M/D/1 (x2)
    assert waits.mean() == pytest.approx(analytic.mm1_mean_wait(lam, mu), abs=tol)


def test_fifo_server_finds_the_server_busy_with_probability_rho() -> None:
    """PASTA: a Poisson arrival finds an M/G/1 server busy with probability rho (batch means of 0/1)."""
    rng = np.random.default_rng(12)
    n, lam = 200_000, 0.7
    waits = fifo_waits(poisson_arrivals(rng, lam, n), rng.exponential(1.0, n))
    mean, tol = batch_mean_tolerance((waits > 0).astype(float))
    assert mean == pytest.approx(analytic.mm1_utilization(lam, 1.0), abs=tol)


def test_fifo_server_mean_wait_matches_md1() -> None:
    """M/D/1 at rho = 0.5: Wq = rho S / (2(1 - rho)) = 0.5, half the M/M/1 wait (batch means)."""
    rng = np.random.default_rng(13)
    n, lam = 200_000, 0.5
    waits = fifo_waits(poisson_arrivals(rng, lam, n), np.ones(n))
    mean, tol = batch_mean_tolerance(waits)
    assert tol < 0.1 * analytic.md1_mean_wait(lam, 1.0)
    assert mean == pytest.approx(analytic.md1_mean_wait(lam, 1.0), abs=tol)


def test_fifo_server_mean_wait_matches_pollaczek_khinchine() -> None:
    """M/G/1, gamma services with shape 1/2 (scv 2) at rho = 0.5: Wq = rho S (1 + 2) / (2(1 - rho)) = 1.5."""
    rng = np.random.default_rng(14)
    n, lam = 300_000, 0.5
    waits = fifo_waits(poisson_arrivals(rng, lam, n), rng.gamma(0.5, 2.0, n))
    mean, tol = batch_mean_tolerance(waits)
    assert mean == pytest.approx(analytic.mg1_mean_wait(lam, 1.0, 2.0), abs=tol)


def test_shared_queue_with_one_server_is_the_fifo_server() -> None:
    rng = np.random.default_rng(15)
    arrivals, services = poisson_arrivals(rng, 0.8, 5000), rng.exponential(1.0, 5000)
    np.testing.assert_allclose(
        shared_queue_waits(arrivals, services, 1), fifo_waits(arrivals, services), atol=1e-9
    )


def test_shared_queue_mean_wait_matches_erlang_c() -> None:
    """M/M/4 with offered load 3 (rho = 0.75): Wq = C(4, 3) / (c mu - lambda) = 0.509 (batch means)."""
    rng = np.random.default_rng(16)
    n, lam, c = 150_000, 3.0, 4
    waits = shared_queue_waits(poisson_arrivals(rng, lam, n), rng.exponential(1.0, n), c)
    mean, tol = batch_mean_tolerance(waits)
    # Tight enough to tell one shared queue from c separate M/M/1 queues at lambda/c (Wq = 3, six times more).
    assert tol < 0.2 * analytic.mmc_mean_wait(c, lam, 1.0) < analytic.mm1_mean_wait(lam / c, 1.0) / 5
    assert mean == pytest.approx(analytic.mmc_mean_wait(c, lam, 1.0), abs=tol)


def test_shared_queue_waiting_probability_is_erlang_c() -> None:
    """P(an M/M/4 arrival waits) = C(4, 3) = 0.509 (batch means of the 0/1 indicator)."""
    rng = np.random.default_rng(17)
    n, lam, c = 150_000, 3.0, 4
    waits = shared_queue_waits(poisson_arrivals(rng, lam, n), rng.exponential(1.0, n), c)
    mean, tol = batch_mean_tolerance((waits > 0).astype(float))
    assert mean == pytest.approx(analytic.erlang_c(c, lam), abs=tol)


# --- the whole simulator (sim.run.simulate) ----------------------------------------------------------------

POLL_T = 5.0
SERVICE_S = 1e-5
RTT_S = 0.05
DURATION = 3600.0


@pytest.fixture(scope="module")
def poll_run() -> Any:
    """poll:5, 1000 clients, one order each, a message every 30 s per order, 10 us service, 50 ms RTT."""
    scenario = sim_scenario(
        clients=1000,
        message_interval=30.0,
        duration=DURATION,
        service_time_ms=SERVICE_S * 1000,
        strategies=(f"poll:{POLL_T:g}",),
        seed=21,
    )
    return simulate(scenario, engine="fast")


def test_poll_delivery_latency_mean_is_half_the_interval_plus_two_round_trips(poll_run: Any) -> None:
    """Mean latency = T/2 + 2S + 1.5 RTT (tick, then since-fetch), within 4 sd(U[0,T])/sqrt(n).

    The wait (tick phase - commit) mod T of each delivery is U[0, T]: commits are Poisson, independent of the
    client's phase, and one client's successive messages are tens of seconds apart (>> T), so the waits are
    effectively independent. Allowed slack on top: the two requests' queue waits (2 x the measured mean wait,
    one-sided) and the run's end, where a message committed less than T before the end is delivered only if
    its wait is short (at most a fraction T/D of messages, biasing the mean by at most T/D * T/2).
    """
    result = only_result(poll_run)
    n = result.latency_s.count
    expected = analytic.poll_latency_mean(POLL_T, service_s=SERVICE_S, rtt_s=RTT_S, round_trips=2)
    tol = Z * (POLL_T / math.sqrt(12)) / math.sqrt(n) + POLL_T / DURATION * POLL_T / 2
    queueing = 2 * result.queue_wait_s.mean
    assert n > 50_000
    assert expected - tol <= result.latency_s.mean <= expected + tol + queueing


def test_poll_delivery_latency_p95_is_095_of_the_interval_plus_overhead(poll_run: Any) -> None:
    """p95 = 0.95 T + 2S + 1.5 RTT within (DKW eps + T/D) * T, plus twice the p99 queue wait above."""
    result = only_result(poll_run)
    n = result.latency_s.count
    expected = analytic.poll_latency_quantile(POLL_T, 0.95, service_s=SERVICE_S, rtt_s=RTT_S, round_trips=2)
    tol = (dkw_epsilon(n) + POLL_T / DURATION) * POLL_T
    assert expected - tol <= result.latency_s.p95 <= expected + tol + 2 * result.queue_wait_s.p99


def test_poll_shortest_delivery_is_the_fixed_overhead(poll_run: Any) -> None:
    """No delivery beats 2S + 1.5 RTT, and among n uniform waits the smallest is below T ln(1/alpha)/n."""
    records = poll_run.records[f"poll:{POLL_T:g}"]
    overhead = analytic.poll_overhead_s(service_s=SERVICE_S, rtt_s=RTT_S, round_trips=2)
    shortest = float(records["latency_s"].min())
    assert overhead - 1e-9 <= shortest <= overhead + POLL_T * math.log(1 / ALPHA) / records["latency_s"].size


def test_poll_request_rate_counts_ticks_and_since_fetches(poll_run: Any) -> None:
    """N/T + N K p/T with p = P(news in a tick) for a customer addressed by every other message.

    Ticks: exactly D/T per client (D/T is whole). Since-fetches: one per (tick, order) with news, n = N K D/T
    trials of probability p; counts of the Erlang-2 renewal stream in disjoint ticks are negatively
    correlated (its renewal density is below its rate at every lag), so the binomial variance bounds theirs.
    Edge: each order's first window is cut at t = 0, at most N K p fewer fetches.
    """
    result = only_result(poll_run)
    n_clients, k, lam = 1000, 1, 1 / 30.0
    p = analytic.useful_poll_probability(lam, POLL_T, alternating=True)
    expected = analytic.poll_request_rate(
        n_clients, POLL_T, orders_per_client=k, message_rate_per_s=lam, alternating=True
    )
    trials = n_clients * k * round(DURATION / POLL_T)
    tol = (Z * math.sqrt(trials * p * (1 - p)) + n_clients * k * p) / DURATION
    assert result.requests_per_s == pytest.approx(expected, abs=tol)


@pytest.mark.parametrize("orders", [1, 3])
def test_empty_poll_fraction_matches_the_closed_form(orders: int) -> None:
    """Empty ticks: (e^(-lambda T)(1 + lambda T/2))^K; each of K orders addresses the customer every 2nd time.

    n = N D/T ticks, binomial tolerance (negatively correlated ticks, see above), plus the first tick of each
    client whose window is cut at 0 (at most N ticks, a fraction T/D of all).
    """
    lam, t, clients = 1 / 30.0, 5.0, 1000
    scenario = sim_scenario(
        clients=clients,
        orders_per_client=orders,
        message_interval=1 / lam,
        duration=DURATION,
        service_time_ms=0.01,
        strategies=("poll:5",),
        seed=30 + orders,
    )
    result = only_result(simulate(scenario, engine="fast"))
    expected = analytic.empty_poll_fraction(lam, t, orders=orders, alternating=True)
    n = clients * round(DURATION / t)
    tol = binomial_tolerance(expected, n) + t / DURATION
    assert result.empty_poll_fraction == pytest.approx(expected, abs=tol)


def test_seed_dashboard_sends_one_plus_k_requests_per_tick() -> None:
    """(1 + K) N / T exactly, less the chained GETs of each client's last tick that fall past the end."""
    clients, k, t = 1000, 3, 3.0
    scenario = sim_scenario(
        clients=clients,
        orders_per_client=k,
        message_interval=600.0,
        duration=1800.0,
        service_time_ms=0.01,
        strategies=("seed-dashboard:3",),
        seed=41,
    )
    result = only_result(simulate(scenario, engine="fast"))
    expected = analytic.seed_dashboard_request_rate(clients, t, orders_per_client=k)
    assert expected - (1 + k) * clients / 1800.0 <= result.requests_per_s <= expected


def test_seed_dashboard_delivers_in_one_round_trip() -> None:
    """The message arrives in the GET's own response: mean T/2 + S + RTT/2, within 4 sd/sqrt(n) + edge."""
    t = 3.0
    scenario = sim_scenario(
        clients=2000,
        message_interval=60.0,
        duration=DURATION,
        service_time_ms=SERVICE_S * 1000,
        strategies=("seed-dashboard:3",),
        seed=42,
    )
    result = only_result(simulate(scenario, engine="fast"))
    n = result.latency_s.count
    expected = analytic.poll_latency_mean(t, service_s=SERVICE_S, rtt_s=RTT_S, round_trips=1)
    tol = Z * (t / math.sqrt(12)) / math.sqrt(n) + t / DURATION * t / 2
    queueing = 4 * result.queue_wait_s.mean  # list GET + message GET, each possibly queued
    assert expected - tol <= result.latency_s.mean <= expected + tol + queueing


def test_push_delivers_in_service_plus_half_an_rtt() -> None:
    """SSE at negligible load: every delivery takes S + RTT/2; the median is exactly that."""
    scenario = sim_scenario(
        clients=500, message_interval=60.0, duration=600.0, service_time_ms=0.01, strategies=("sse",), seed=43
    )
    result = only_result(simulate(scenario, engine="fast"))
    assert result.latency_s.p50 == pytest.approx(
        analytic.push_latency_s(service_s=1e-5, rtt_s=RTT_S), abs=1e-9
    )
    assert result.empty_poll_fraction == 0.0


# Push fan-out as a queue: every delivery is one job at its message's commit. With admins = 0 a process's
# jobs are the admin messages to its customers: a superposition of N/c independent Erlang-2 renewal streams,
# Poisson to within a relative 1/(N/c) in its pair correlation (Palm-Khintchine), far below the tolerances.
# A huge heartbeat (sse:1e6) leaves ~D/1e6 of the clients one heartbeat job each: no other traffic.
PUSH_CLIENTS_PER_PROCESS = 2000
PUSH_INTERVAL = 20.0  # per order; customers get every other message: 2000 / 40 s = 50 jobs/s per process
PUSH_DURATION = 1800.0


def push_queue_run(processes: int, calibration: Calibration | None = None, **fields: Any) -> Any:
    scenario = sim_scenario(
        clients=PUSH_CLIENTS_PER_PROCESS * processes,
        server_processes=processes,
        message_interval=PUSH_INTERVAL,
        duration=PUSH_DURATION,
        strategies=("sse:1000000",),
        seed=50 + processes,
        **fields,
    )
    return simulate(scenario, engine="fast", calibration=calibration)


def push_waits(run: Any, service_s: float, process: int, processes: int) -> np.ndarray:
    """Queue wait of each fan-out job of one process in commit order: latency - S - RTT/2 (S, RTT fixed)."""
    (records,) = run.records.values()
    mine = records["client"] % processes == process
    by_commit = np.argsort(records["created_at"][mine], kind="stable")
    waits: np.ndarray = (records["latency_s"][mine] - service_s - RTT_S / 2)[by_commit]
    return waits


@pytest.mark.parametrize("processes", [1, 2])
def test_push_fan_out_queue_matches_md1_on_every_process(processes: int) -> None:
    """Forced 10 ms service, 50 jobs/s per process (rho = 0.5): each process is its own M/D/1, Wq = 5 ms.

    The c processes own their clients' connections, so they are c independent M/D/1 queues at lambda/c,
    not one M/D/c (which would wait far less). Batch means per process.
    """
    service = 0.010
    run = push_queue_run(processes, service_time_ms=service * 1000)
    lam = PUSH_CLIENTS_PER_PROCESS / (2 * PUSH_INTERVAL)
    for process in range(processes):
        waits = push_waits(run, service, process, processes)
        mean, tol = batch_mean_tolerance(waits)
        assert waits.size > 60_000
        assert mean == pytest.approx(analytic.md1_mean_wait(lam, service), abs=tol)


def test_push_fan_out_queue_matches_mm1_with_exponential_service() -> None:
    """Exponential 10 ms service at 50 jobs/s: the reported mean queue wait is M/M/1's 10 ms.

    Tolerance 4 sqrt(sigma^2/n) with Daley's asymptotic variance of the M/M/1 wait average.
    """
    # post=0: the senders' POSTs count in utilization (sim.run.count_posts); this checks the fan-out alone.
    cal = Calibration(service_ms=ServiceTimes(push=10.0, post=0.0), service_distribution="exponential")
    run = push_queue_run(1, calibration=cal)
    result = only_result(run)
    lam, mu = PUSH_CLIENTS_PER_PROCESS / (2 * PUSH_INTERVAL), 100.0
    n = result.messages.delivered
    tol = Z * math.sqrt(analytic.mm1_wait_average_variance(lam, mu) / n)
    assert result.queue_wait_s.mean == pytest.approx(analytic.mm1_mean_wait(lam, mu), abs=tol)
    # Busy time is a compound Poisson sum: Var = lambda D E[S^2] = 2 lambda D / mu^2, so sd(busy/D) below.
    util_sd = math.sqrt(2 * lam / PUSH_DURATION) / mu
    assert result.server_utilization == pytest.approx(analytic.mm1_utilization(lam, mu), abs=Z * util_sd)


# --- the SimPy reference model (engine="des") against the same closed forms ---------------------------------


def test_des_poll_delivery_latency_mean_is_half_the_interval_plus_two_round_trips() -> None:
    """The closed-loop SimPy model: mean T/2 + 2S + 1.5 RTT within 4 sd(U[0,T])/sqrt(n) + edge + queueing."""
    scenario = sim_scenario(
        clients=100,
        message_interval=30.0,
        duration=1800.0,
        service_time_ms=SERVICE_S * 1000,
        strategies=(f"poll:{POLL_T:g}",),
        seed=71,
    )
    result = only_result(simulate(scenario, engine="des"))
    n = result.latency_s.count
    expected = analytic.poll_latency_mean(POLL_T, service_s=SERVICE_S, rtt_s=RTT_S, round_trips=2)
    tol = Z * (POLL_T / math.sqrt(12)) / math.sqrt(n) + POLL_T / 1800.0 * POLL_T / 2
    assert result.extra["engine"] == "des"
    assert expected - tol <= result.latency_s.mean <= expected + tol + 2 * result.queue_wait_s.mean


def test_des_push_fan_out_queue_matches_md1() -> None:
    """SimPy event loop fed Poisson fan-out jobs, forced 20 ms service, 25 jobs/s: M/D/1 Wq = 10 ms."""
    service, clients = 0.020, 1000
    scenario = sim_scenario(
        clients=clients,
        message_interval=PUSH_INTERVAL,
        duration=900.0,
        service_time_ms=service * 1000,
        strategies=("sse:1000000",),
        seed=72,
    )
    run = simulate(scenario, engine="des")
    waits = push_waits(run, service, 0, 1)
    mean, tol = batch_mean_tolerance(waits)
    assert tol < 0.15 * analytic.md1_mean_wait(clients / (2 * PUSH_INTERVAL), service)
    assert mean == pytest.approx(analytic.md1_mean_wait(clients / (2 * PUSH_INTERVAL), service), abs=tol)


# --- radio energy through the simulator ----------------------------------------------------------------


@pytest.fixture(scope="module")
def energy_run() -> Any:
    scenario = sim_scenario(
        clients=200, message_interval=600.0, duration=1800.0, strategies=("poll:3", "ws"), seed=61
    )
    return simulate(scenario, engine="fast")


def test_poll_every_3_s_keeps_every_radio_in_high_power(energy_run: Any) -> None:
    """poll:3 < tail: after the first tick (within 3 s) the radio never rests, ~3816 J per client-hour.

    Deterministic bounds: at least tail power over [T, D], at most tail power throughout plus one promotion.
    """
    model, d, t = RadioModel(), 1800.0, 3.0
    joules = energy_run.summary.strategies["poll:3"].energy_j_per_client_hour
    low = model.tail_w * (d - t) * 3600 / d
    high = (model.tail_w * d + model.promotion_s * model.promotion_w) * 3600 / d
    assert low <= joules <= high
    assert joules == pytest.approx(periodic_energy_per_hour(t, model), rel=t / d)


def test_websocket_with_30_s_ping_costs_far_less_than_polling(energy_run: Any) -> None:
    """ws pings every 30 s (> tail): the closed form for a 30 s period, plus at most one tail per message."""
    model, d = RadioModel(), 1800.0
    ws = energy_run.summary.strategies["ws"]
    per_activity = model.tail_s * model.tail_w + model.promotion_s * model.promotion_w
    extra = ws.messages.delivered / 200 * per_activity * 3600 / d
    pings = periodic_energy_per_hour(30.0, model)
    assert pings * (1 - 30.0 / d) <= ws.energy_j_per_client_hour <= pings + extra
    poll3 = energy_run.summary.strategies["poll:3"]
    assert ws.energy_j_per_client_hour < 0.5 * poll3.energy_j_per_client_hour


# --- Bozdag et al. (JWE 2009) replication ------------------------------------------------------------------


@pytest.fixture(scope="module")
def bozdag_run() -> Any:
    return simulate(load_scenario(scenario_path("bozdag2009")), engine="fast")


def test_bozdag_pull_every_second_is_98_percent_unnecessary(bozdag_run: Any) -> None:
    """Each 50 s publication is seen by exactly one of the 50 polls in between: 1 - T/P = 98 % empty.

    Deterministic: every client makes D/T = 1800 polls and receives D/P = 36 messages, the last of which
    may miss the final tick, so the useful share lies in [35, 36] / 1800.
    """
    scenario = load_scenario(scenario_path("bozdag2009"))
    result = bozdag_run.summary.strategies["poll:1"]
    ideal = analytic.periodic_empty_poll_fraction(1.0, 2 * scenario.message_interval)
    assert ideal == pytest.approx(0.98)
    assert ideal - 1e-12 <= result.empty_poll_fraction <= 1 - 35 / 1800


def test_bozdag_push_sends_nothing_unnecessary(bozdag_run: Any) -> None:
    """Push: every message delivered, no empty responses, one connect per client and no steady requests."""
    scenario = load_scenario(scenario_path("bozdag2009"))
    result = bozdag_run.summary.strategies["sse"]
    assert result.empty_poll_fraction == 0.0
    assert result.messages.delivered == result.messages.sent
    assert result.extra["connects"] == scenario.clients
    assert result.requests_per_s == 0.0


def test_bozdag_scenario_is_shipped_with_the_package() -> None:
    scenario = load_scenario(scenario_path("bozdag2009"))
    assert (scenario.arrivals, scenario.strategies) == ("periodic", ("poll:1", "sse"))
    with pytest.raises(FileNotFoundError, match="bundled: bozdag2009"):
        scenario_path("nope")
