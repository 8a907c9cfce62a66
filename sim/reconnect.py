"""The reconnect storm after a server restart: when the clients of one process are back, and what its
event loop goes through while they come back.

A server process dies at t = 0 and listens again at t = D (the downtime). Its clients notice the crash

- **at the crash** when they hold a connection (``sse``, ``ws``, ``longpoll``: each long-poll of a client
  is its own connection and its own retry loop); their first attempt waits the policy's first delay;
- **at their next poll** when they poll (``poll:T``, ``seed-dashboard:T``, ``adaptive``): the tick at its
  random phase in ``[0, interval)`` is the first attempt (a tick after D simply succeeds: that client never
  noticed).

Every attempt before D is refused (no queue: the port is closed) and the client backs off per THE policy,
:class:`pollbench.reconnect.Backoff` (attempt ``n`` waits uniform in ``[0, min(cap, initial*factor**n)]``).
The first attempt at or after D gets through: it is a job for the event loop, costing what the strategy's
reconnect costs (calibrated service times): SSE/WebSocket connect and replay (the work of a ``since``
fetch), a long-poll re-register, a poll (a 304 order list; seed-dashboard: the list and every order's full
message list). A client is *back* when all its connections are. Once back, clients carry on: pollers on
their setInterval grid, push streams with keep-alives, long-polls with timeouts and re-issues; those jobs
are the normal load the storm sits on. All jobs queue at the loop, which is free at D, through the same
FIFO as the rest of the simulator (:class:`sim.server.FifoServer`, Lindley's recursion).

Everything is vectorised over clients: one numpy step per retry round, one sort and one Lindley scan, so
100 000 clients take a fraction of a second. Network delay is left out (it shifts every time by half an
RTT).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pollbench.reconnect import DEFAULT_BACKOFF, Backoff
from pollbench.results import ReconnectStorm, StrategyResult, latency_stats
from pollbench.strategies import (
    Adaptive,
    LongPoll,
    Poll,
    SeedDashboard,
    ServerSentEvents,
    Strategy,
    WebSocket,
)
from sim.context import RunContext
from sim.server import FifoServer, ServiceModel

__all__ = ["Restart", "StormLoad", "reconnect_storm", "retry_until_up", "storm_after_run", "storm_load"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MAX_FOLLOW_JOBS = 2_000_000
"""About the most normal jobs (polls, keep-alives) fed after the storm to let its backlog drain."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Restart:
    """One restart of one server process."""

    downtime_s: float
    """Seconds between the crash and the process listening again."""
    clients: int
    """Customers connected to the process."""
    orders_per_client: int = 3
    """Orders per customer: a long-poll client holds one connection per order; seed-dashboard fetches each."""
    backoff: Backoff = DEFAULT_BACKOFF
    """The retry policy every client follows."""
    poll_interval_s: float | None = None
    """Adaptive clients' current interval (default: the strategy's max, where idle clients sit)."""
    rate_window_s: float = 0.1
    """Bin width the peak arrival rate is counted in, seconds."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.downtime_s) and self.downtime_s >= 0):
            raise ValueError(f"downtime must be a number of seconds >= 0, got {self.downtime_s!r}")
        if self.clients < 1:
            raise ValueError(f"a restart needs at least one client, got {self.clients}")
        if self.orders_per_client < 1:
            raise ValueError(f"orders_per_client must be >= 1, got {self.orders_per_client}")
        if not self.rate_window_s > 0:
            raise ValueError(f"rate_window_s must be > 0, got {self.rate_window_s!r}")
        if self.poll_interval_s is not None and not (
            math.isfinite(self.poll_interval_s) and self.poll_interval_s > 0
        ):
            raise ValueError(f"poll_interval_s must be a number of seconds > 0, got {self.poll_interval_s!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class StormLoad:
    """What one strategy's clients do to a restarted process, before any queueing."""

    back_s: FloatArray
    """Per client: when it is back (its last connection's first accepted attempt), seconds after the crash."""
    failed: IntArray
    """Per client: attempts refused while the process was down."""
    reconnects_s: FloatArray
    """Arrival of every accepted reconnect (one per connection), seconds after the crash."""
    reconnect_mean_s: float
    """Mean loop time of one reconnect."""
    follow_s: FloatArray
    """Arrivals of the normal jobs of clients that are back (polls, keep-alives, long-poll cycles)."""
    follow_mean_s: float
    """Mean loop time of one such job."""
    normal_rate_per_s: float
    """Those jobs per second in normal operation (all the process's clients)."""
    notice: str
    """'at the crash' or 'at their next poll'."""


def _draw_delays(policy: Backoff, attempt: int, rng: np.random.Generator, size: int) -> FloatArray:
    """`size` waits before retry `attempt`, as ``policy.delay`` draws them (full jitter, or the ceiling)."""
    ceiling = policy.ceiling(attempt)
    if not policy.jitter:
        return np.full(size, ceiling)
    return rng.uniform(0.0, ceiling, size)


def retry_until_up(
    first_attempt_s: FloatArray,
    first_index: int,
    downtime_s: float,
    policy: Backoff,
    rng: np.random.Generator,
) -> tuple[FloatArray, IntArray]:
    """Retry every connection until an attempt lands at or after `downtime_s`.

    `first_attempt_s` holds each connection's first attempt; after it, the ``n``-th refusal in a row waits
    ``policy.delay(first_index + n)`` (``first_index`` is 1 when the first attempt already waited delay 0).
    Returns the accepted attempt's time and the refused attempts, per connection.
    """
    t = np.array(first_attempt_s, dtype=np.float64)
    failed = np.zeros(t.size, dtype=np.int64)
    down = np.flatnonzero(t < downtime_s)
    attempt = first_index
    while down.size:  # one round per attempt index; each round only touches the connections still refused
        failed[down] += 1
        t[down] += _draw_delays(policy, attempt, rng, down.size)
        down = down[t[down] < downtime_s]
        attempt += 1
    return t, failed


def _poll_interval(strategy: Strategy, restart: Restart) -> float:
    if isinstance(strategy, Poll | SeedDashboard):
        return strategy.interval_s
    if isinstance(strategy, Adaptive):
        return restart.poll_interval_s if restart.poll_interval_s is not None else strategy.max_s
    raise TypeError(f"{strategy.spec} does not poll")


def _grid_after(phase: FloatArray, back: FloatArray, period: float, horizon: float) -> FloatArray:
    """Every setInterval tick ``phase + k*period`` strictly after `back`, up to `horizon` (flat, unsorted)."""
    first = phase + (np.floor((back - phase) / period) + 1.0) * period
    return _periodic(first, period, horizon)


def _periodic(first: FloatArray, period: float, horizon: float) -> FloatArray:
    """``first + k*period`` for k >= 0, up to `horizon`, for every entry of `first` (flat)."""
    counts = np.maximum(0, np.floor((horizon - first) / period).astype(np.int64) + 1)
    counts[first > horizon] = 0
    total = int(counts.sum())
    if total == 0:
        return np.empty(0)
    starts = np.repeat(first, counts)
    # k restarts at 0 for every entry: position minus the entry's offset in the flat array.
    k = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    out: FloatArray = starts + k * period
    return out


def storm_load(
    strategy: Strategy, restart: Restart, service: ServiceModel, rng: np.random.Generator
) -> StormLoad:
    """The refused attempts, accepted reconnects and follow-on jobs of `strategy`'s clients."""
    if isinstance(strategy, ServerSentEvents):
        return _held_load(restart, rng, loops_per_client=1, period=strategy.heartbeat_s,
                          cost=service.mean("since"), cycle=service.mean("heartbeat"))  # fmt: skip
    if isinstance(strategy, WebSocket):
        return _held_load(restart, rng, loops_per_client=1, period=strategy.ping_s,
                          cost=service.mean("since"), cycle=service.mean("ping"))  # fmt: skip
    if isinstance(strategy, LongPoll):
        # A parked wait times out (a 204) and is re-issued at once: one cycle per timeout per order.
        register = service.mean("longpoll_register")
        return _held_load(restart, rng, loops_per_client=restart.orders_per_client, period=strategy.timeout_s,
                          cost=register, cycle=service.mean("longpoll_timeout") + register)  # fmt: skip
    if isinstance(strategy, SeedDashboard):
        cost = service.mean("orders_200") + restart.orders_per_client * service.mean("full_messages")
    else:
        cost = service.mean("orders_304")  # ETags survive a restart: they are derived from the data
    return _poll_load(restart, rng, interval=_poll_interval(strategy, restart), cost=cost)


def _held_load(
    restart: Restart, rng: np.random.Generator, *, loops_per_client: int, period: float, cost: float,
    cycle: float,
) -> StormLoad:  # fmt: skip
    """Clients holding `loops_per_client` connections each, all broken at the crash.

    Connect and replay (SSE, WebSocket: the connect's token check, subscription and replay query are a
    ``since`` fetch's work) or a long-poll's re-register costs `cost`; once connected, a keep-alive or a
    timeout cycle costing `cycle` comes every `period`.
    """
    n, d, policy = restart.clients, restart.downtime_s, restart.backoff
    loops = n * loops_per_client
    at, failed = retry_until_up(_draw_delays(policy, 0, rng, loops), 1, d, policy, rng)
    back = at.reshape(n, loops_per_client).max(axis=1)
    fails = failed.reshape(n, loops_per_client).sum(axis=1)
    horizon = _horizon(back, period, loops * cost, loops / period * cycle, loops)
    return StormLoad(
        back_s=back, failed=fails, reconnects_s=at, reconnect_mean_s=cost,
        follow_s=_periodic(at + period, period, horizon), follow_mean_s=cycle,
        normal_rate_per_s=loops / period, notice="at the crash",
    )  # fmt: skip


def _poll_load(restart: Restart, rng: np.random.Generator, *, interval: float, cost: float) -> StormLoad:
    """Polling clients on a setInterval grid of random phase; a poll costs `cost`."""
    n = restart.clients
    phase = rng.uniform(0.0, interval, n)
    at, failed = retry_until_up(phase, 0, restart.downtime_s, restart.backoff, rng)
    horizon = _horizon(at, interval, n * cost, n / interval * cost, n)
    return StormLoad(
        back_s=at, failed=failed, reconnects_s=at, reconnect_mean_s=cost,
        follow_s=_grid_after(phase, at, interval, horizon), follow_mean_s=cost,
        normal_rate_per_s=n / interval, notice="at their next poll",
    )  # fmt: skip


def _horizon(
    back: FloatArray, period: float, storm_work_s: float, normal_load: float, connections: int
) -> float:
    """How long after the crash to keep feeding normal jobs.

    Until the last client is back, one period more, and the time the storm's backlog needs to drain at the
    loop's spare capacity. A loop the normal load alone saturates never drains: then only the first period.
    The normal jobs are bounded to about MAX_FOLLOW_JOBS so a storm costs a fraction of a second whatever
    its size.
    """
    drain = storm_work_s / (1.0 - normal_load) if normal_load < 0.95 else 0.0
    drain = min(drain, MAX_FOLLOW_JOBS * period / max(1, connections))
    return float(back.max()) + period + drain


def reconnect_storm(
    strategy: Strategy, restart: Restart, service: ServiceModel, rng: np.random.Generator
) -> ReconnectStorm:
    """Simulate one restart of one process for `strategy`: recovery times, queue waits, rates, saturation."""
    load = storm_load(strategy, restart, service, rng)
    arrivals = np.concatenate([load.reconnects_s, load.follow_s])
    means = np.concatenate(
        [
            np.full(load.reconnects_s.size, load.reconnect_mean_s),
            np.full(load.follow_s.size, load.follow_mean_s),
        ]
    )
    order = np.argsort(arrivals, kind="stable")
    a, s = arrivals[order], service.draw(rng, means[order])
    fifo = FifoServer(cold_start=service.calibration.cold_start, quota=service.quota)
    fifo.free_at = restart.downtime_s  # the restarted loop starts empty when the port opens
    waits = fifo.process_trusted(a, s)
    is_reconnect = order < load.reconnects_s.size
    back = latency_stats(load.back_s)
    start, end = _saturated_span(a, waits, s)
    width = restart.rate_window_s
    bins = np.floor((a - restart.downtime_s) / width).astype(np.int64)
    return ReconnectStorm(
        downtime_s=restart.downtime_s,
        clients=restart.clients,
        notice=load.notice,
        back_50_s=back.p50,
        back_99_s=back.p99,
        back_100_s=back.max,
        wait_peak_s=float(waits.max()),
        wait_p99_s=latency_stats(waits[is_reconnect]).p99,
        failed_attempts=int(load.failed.sum()),
        failed_attempts_max=int(load.failed.max()),
        peak_rate_per_s=float(np.bincount(bins - bins.min()).max()) / width,
        normal_rate_per_s=load.normal_rate_per_s,
        rate_window_s=width,
        capacity_per_s=1.0 / load.reconnect_mean_s if load.reconnect_mean_s > 0 else math.inf,
        saturated_s=end - start,
        saturated_until_s=end,
        backoff=dataclasses.asdict(restart.backoff),
    )


def _saturated_span(a: FloatArray, waits: FloatArray, s: FloatArray) -> tuple[float, float]:
    """Start and end of the loop's busy period that holds the longest wait (no idle moment in between)."""
    peak = int(np.argmax(waits))
    idle = waits == 0.0  # a job that finds the loop idle opens a busy period
    before = np.flatnonzero(idle[: peak + 1])
    first = int(before[-1]) if before.size else 0
    after = np.flatnonzero(idle[peak + 1 :])
    last = peak + int(after[0]) if after.size else a.size - 1
    return float(a[first]), float(a[last] + waits[last] + s[last])


def storm_after_run(
    strategy: Strategy, ctx: RunContext, result: StrategyResult, downtime_s: float
) -> StrategyResult:
    """`result` with the storm of one restart of process 0 after `downtime_s` (its customers; admins are few).

    Uses process 0's service model, the shared default backoff and, for adaptive, the mean interval the run
    measured; the random stream is named after the strategy, so the storm does not depend on which other
    strategies ran.
    """
    population = ctx.population
    measured = result.extra.get("mean_interval_s")
    interval = float(measured) if isinstance(measured, int | float) else math.nan
    usable = math.isfinite(interval) and interval > 0
    restart = Restart(
        downtime_s=downtime_s,
        clients=math.ceil(population.customers / population.servers),
        orders_per_client=population.orders_per_customer,
        poll_interval_s=interval if usable else None,
    )
    # Process 0's speed: the connections it held before the crash (the cache working set comes back with
    # the clients) and the scenario's quota.
    service = ctx.process_service(strategy, 0)
    storm = reconnect_storm(strategy, restart, service, ctx.rng("reconnect-storm", strategy.spec))
    return dataclasses.replace(result, reconnect_storm=storm)
