"""Closed forms the simulator must reproduce: polling delays, request rates, and classic queues.

Think of a chat client that polls every T seconds. A message committed at a random instant waits for the next
tick, which is uniformly distributed over the interval (the client's phase is random and independent of the
message), so that wait is U[0, T]. Add the time the server takes and the time on the wire and you have the
delivery latency. The server itself is one event loop per process: a single FIFO server that Poisson-ish
requests queue for, which is where M/M/1, M/D/1, M/G/1 (Pollaczek-Khinchine) and, for c processes sharing a
queue, M/M/c (Erlang C) come in.

Every function is pure, validates its inputs and raises :class:`AnalyticError` (a ``ValueError``) with a
sentence saying what is wrong, e.g. an unstable queue with utilisation >= 1. References: Kleinrock, *Queueing
Systems* vol. 1 (1975), ch. 3 and 5; Gross & Harris, *Fundamentals of Queueing Theory*, ch. 2-5.
"""

from __future__ import annotations

import math

__all__ = [
    "AnalyticError",
    "empty_poll_fraction",
    "erlang_c",
    "littles_law",
    "md1_mean_wait",
    "mg1_mean_wait",
    "mm1_mean_number",
    "mm1_mean_sojourn",
    "mm1_mean_wait",
    "mm1_utilization",
    "mm1_wait_average_variance",
    "mmc_mean_wait",
    "periodic_empty_poll_fraction",
    "poll_latency_mean",
    "poll_latency_quantile",
    "poll_overhead_s",
    "poll_request_rate",
    "poll_wait_mean",
    "poll_wait_quantile",
    "push_latency_s",
    "seed_dashboard_request_rate",
    "useful_poll_probability",
]


class AnalyticError(ValueError):
    """Inputs outside a closed form's domain (negative rates, unstable queues, quantiles outside [0, 1])."""


# --- input checks ---------------------------------------------------------------------------------------


def _positive(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise AnalyticError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _non_negative(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise AnalyticError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _count(name: str, value: int, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise AnalyticError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return value


def _stable(rho: float, what: str) -> float:
    if rho >= 1:
        raise AnalyticError(
            f"{what} is unstable: utilisation rho = {rho:.4g} >= 1, so the queue grows without bound "
            "and no steady-state wait exists; lower the arrival rate or add servers"
        )
    return rho


def _quantile(q: float) -> float:
    if not (isinstance(q, int | float) and 0 <= q <= 1):
        raise AnalyticError(f"quantile must be between 0 and 1, got {q!r}")
    return float(q)


# --- setInterval polling --------------------------------------------------------------------------------


def poll_wait_mean(interval_s: float) -> float:
    """Mean wait from a message's commit to the next poll tick: E[U[0, T]] = T / 2.

    Holds for any arrival process independent of the tick phase (random phase, PASTA for Poisson arrivals).
    """
    return _positive("interval_s", interval_s) / 2


def poll_wait_quantile(interval_s: float, q: float) -> float:
    """q-quantile of the wait to the next tick: the inverse CDF of U[0, T] is q * T (p95 = 0.95 T)."""
    return _quantile(q) * _positive("interval_s", interval_s)


def poll_overhead_s(*, service_s: float = 0.0, rtt_s: float = 0.0, round_trips: int = 1) -> float:
    """Fixed delay between the server first seeing news and the client holding it (no queueing).

    The wait ends when a tick's request reaches the server; then that request is served (S) and its response
    travels back (RTT/2). Each further round trip the delivery needs adds a full RTT and one more service:

        overhead = k * S + (k - 1/2) * RTT,     k = round_trips >= 1

    k = 1: one-shot fetch (the message comes in the tick's own response). k = 2: ``poll:T`` differential
    polling, where the tick's conditional request only says *something changed* and a second request
    (``since=CURSOR``) fetches the message.
    """
    s = _non_negative("service_s", service_s)
    rtt = _non_negative("rtt_s", rtt_s)
    k = _count("round_trips", round_trips)
    return k * s + (k - 0.5) * rtt


def poll_latency_mean(
    interval_s: float, *, service_s: float = 0.0, rtt_s: float = 0.0, round_trips: int = 1
) -> float:
    """Mean delivery latency of setInterval polling: T/2 + k*S + (k - 1/2)*RTT (:func:`poll_overhead_s`)."""
    return poll_wait_mean(interval_s) + poll_overhead_s(
        service_s=service_s, rtt_s=rtt_s, round_trips=round_trips
    )


def poll_latency_quantile(
    interval_s: float, q: float, *, service_s: float = 0.0, rtt_s: float = 0.0, round_trips: int = 1
) -> float:
    """q-quantile of delivery latency with constant service and RTT: q*T + k*S + (k - 1/2)*RTT.

    Exact when service time and RTT are constants (a constant shift moves every quantile by itself);
    with queueing or RTT spread it is the no-contention baseline.
    """
    return poll_wait_quantile(interval_s, q) + poll_overhead_s(
        service_s=service_s, rtt_s=rtt_s, round_trips=round_trips
    )


def push_latency_s(*, service_s: float = 0.0, rtt_s: float = 0.0) -> float:
    """Delivery latency of a push (SSE/WebSocket), no queueing: fan-out service plus one way, S + RTT/2."""
    return _non_negative("service_s", service_s) + _non_negative("rtt_s", rtt_s) / 2


def useful_poll_probability(rate_per_s: float, interval_s: float, *, alternating: bool = False) -> float:
    """Probability that a recipient gets news from one order during a tick interval T.

    Poisson(lambda) messages all addressed to the recipient: 1 - e^(-lambda T).

    `alternating=True`: senders alternate customer/admin, so the recipient is addressed by every *other*
    message of the Poisson stream (as sim.workload generates). Its messages form a stationary renewal
    process with Erlang-2(lambda) gaps (mean m = 2/lambda, survival e^(-lambda x)(1 + lambda x)); the
    chance that a window of length T holds none is (1/m) * integral_T^inf survival dx
    = e^(-lambda T)(1 + lambda T/2), so

        P(news) = 1 - e^(-lambda T)(1 + lambda T / 2)

    (to first order lambda T / 2, the rate halved; the second-order term differs from Poisson(lambda/2)).
    """
    x = _non_negative("rate_per_s", rate_per_s) * _positive("interval_s", interval_s)
    if alternating:
        return -math.expm1(-x) - math.exp(-x) * x / 2
    return -math.expm1(-x)


def empty_poll_fraction(
    message_rate_per_s: float, interval_s: float, *, orders: int = 1, alternating: bool = False
) -> float:
    """Share of polls that find nothing new: e^(-lambda*K*T) for a client watching K Poisson orders.

    Each order receives messages at `message_rate_per_s` (lambda = 1 / mean interval); the K orders merge into
    one Poisson stream of rate K*lambda, and a poll is empty when that stream is silent for a whole interval.
    With K = 1 this is the per-order fraction e^(-lambda*T). With `alternating=True` (the recipient gets every
    other message, see :func:`useful_poll_probability`) it is (e^(-lambda T)(1 + lambda T/2))^K.
    """
    _non_negative("message_rate_per_s", message_rate_per_s)
    k = _count("orders", orders)
    return (1.0 - useful_poll_probability(message_rate_per_s, interval_s, alternating=alternating)) ** k


def periodic_empty_poll_fraction(interval_s: float, publish_interval_s: float) -> float:
    """Share of empty polls when messages are published every P seconds exactly (Bozdag et al. 2009).

    With T <= P each publication is seen by exactly one poll and there are P/T polls per publication, so the
    useful share is T/P and the empty share 1 - T/P (pull every 1 s, publish every 50 s: 98 %). With T > P
    every poll finds something.
    """
    t = _positive("interval_s", interval_s)
    p = _positive("publish_interval_s", publish_interval_s)
    return max(0.0, 1.0 - t / p)


def poll_request_rate(
    clients: int,
    interval_s: float,
    *,
    orders_per_client: int = 1,
    message_rate_per_s: float = 0.0,
    alternating: bool = False,
) -> float:
    """Requests per second of ``poll:T``: N/T ticks plus a since-fetch per order with news.

        rate = N/T + N*K*(1 - e^(-lambda*T))/T

    Each of N clients sends one conditional request per tick, and for each of its K orders that received at
    least one Poisson(lambda) message since the previous tick one ``since=CURSOR`` fetch. `alternating` as in
    :func:`useful_poll_probability`.
    """
    n = _count("clients", clients)
    t = _positive("interval_s", interval_s)
    k = _count("orders_per_client", orders_per_client)
    return n / t + n * k * useful_poll_probability(message_rate_per_s, t, alternating=alternating) / t


def seed_dashboard_request_rate(clients: int, interval_s: float, *, orders_per_client: int = 1) -> float:
    """Requests per second of the seed's dashboard: (1 + K) * N / T (order list plus one fetch per order)."""
    n = _count("clients", clients)
    k = _count("orders_per_client", orders_per_client)
    return (1 + k) * n / _positive("interval_s", interval_s)


# --- single-server queues -------------------------------------------------------------------------------


def mm1_utilization(arrival_rate: float, service_rate: float) -> float:
    """Utilisation of a single-server queue: rho = lambda / mu; must be < 1 for a steady state."""
    rho = _non_negative("arrival_rate", arrival_rate) / _positive("service_rate", service_rate)
    return _stable(rho, "the queue")


def mm1_mean_wait(arrival_rate: float, service_rate: float) -> float:
    """M/M/1 mean wait in queue (before service): Wq = rho / (mu - lambda)."""
    rho = mm1_utilization(arrival_rate, service_rate)
    return rho / (service_rate - arrival_rate)


def mm1_mean_sojourn(arrival_rate: float, service_rate: float) -> float:
    """M/M/1 mean time in system (wait + service): W = 1 / (mu - lambda)."""
    mm1_utilization(arrival_rate, service_rate)
    return 1.0 / (service_rate - arrival_rate)


def mm1_mean_number(arrival_rate: float, service_rate: float) -> float:
    """M/M/1 mean number in system: L = rho / (1 - rho) (= lambda * W, Little's law)."""
    rho = mm1_utilization(arrival_rate, service_rate)
    return rho / (1 - rho)


def mm1_wait_average_variance(arrival_rate: float, service_rate: float) -> float:
    """Asymptotic variance constant of the average queue wait of n consecutive M/M/1 customers.

    Waits of successive customers are positively correlated, so Var(mean of n waits) is not Var(W)/n but
    sigma^2/n with (Daley 1968, the sum of the serial covariances of stationary M/M/1 waits)

        sigma^2 = rho (2 + 5 rho - 4 rho^2 + rho^3) / (mu^2 (1 - rho)^4)

    e.g. 29/mu^2 at rho = 0.5, against Var(W) = rho(2 - rho)/(mu^2 (1 - rho)^2) = 3/mu^2. Used to size the
    tolerance of simulated mean waits.
    """
    rho = mm1_utilization(arrival_rate, service_rate)
    return rho * (2 + 5 * rho - 4 * rho**2 + rho**3) / (service_rate**2 * (1 - rho) ** 4)


def mg1_mean_wait(arrival_rate: float, mean_service_s: float, service_scv: float) -> float:
    """M/G/1 mean wait in queue by Pollaczek-Khinchine: Wq = lambda*E[S^2] / (2(1 - rho)).

    Written with the squared coefficient of variation c^2 = Var[S]/E[S]^2, E[S^2] = E[S]^2 (1 + c^2):
    Wq = rho * E[S] * (1 + c^2) / (2(1 - rho)). c^2 = 1 gives M/M/1, c^2 = 0 gives M/D/1.
    """
    lam = _non_negative("arrival_rate", arrival_rate)
    s = _positive("mean_service_s", mean_service_s)
    cv2 = _non_negative("service_scv", service_scv)
    rho = _stable(lam * s, "the queue")
    return rho * s * (1 + cv2) / (2 * (1 - rho))


def md1_mean_wait(arrival_rate: float, service_s: float) -> float:
    """M/D/1 mean wait in queue (constant service S): Wq = rho * S / (2(1 - rho)), half the M/M/1 wait."""
    return mg1_mean_wait(arrival_rate, service_s, 0.0)


# --- multi-server queue ---------------------------------------------------------------------------------


def erlang_c(servers: int, offered_load: float) -> float:
    """Erlang C: probability that an arrival to an M/M/c queue has to wait.

    With offered load a = lambda/mu and rho = a/c < 1,
    C(c, a) = [a^c/c! * 1/(1 - rho)] / [sum_{k<c} a^k/k! + a^c/c! * 1/(1 - rho)].
    Computed through the Erlang B recursion B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1)) and
    C = B / (1 - rho (1 - B)), which never forms a^c or c! and so stays finite for thousands of servers.
    """
    c = _count("servers", servers)
    a = _non_negative("offered_load", offered_load)
    _stable(a / c, f"an M/M/{c} queue with offered load {a:g}")
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    rho = a / c
    return b / (1 - rho * (1 - b))


def mmc_mean_wait(servers: int, arrival_rate: float, service_rate: float) -> float:
    """M/M/c mean wait in queue: Wq = C(c, a) / (c*mu - lambda), with a = lambda/mu."""
    lam = _non_negative("arrival_rate", arrival_rate)
    mu = _positive("service_rate", service_rate)
    c = _count("servers", servers)
    return erlang_c(c, lam / mu) / (c * mu - lam)


# --- Little's law ---------------------------------------------------------------------------------------


def littles_law(*, arrival_rate: float, mean_time_s: float) -> float:
    """Little's law L = lambda * W: mean number in a stable system from its throughput and mean time in it.

    Holds for any stable system whatever the distributions (open connections = connect rate * lifetime,
    requests in flight = request rate * response time).
    """
    return _non_negative("arrival_rate", arrival_rate) * _non_negative("mean_time_s", mean_time_s)
