"""Periodic polling in bulk: poll:T (differential polling) for 10^5 clients.

setInterval ticks every T seconds whatever the responses do, each client at its own random phase. Every
request a tick causes therefore reaches the server at a fixed offset inside the period, so one sort of those
offsets orders a whole period's arrivals, and a window of m periods is that order repeated m times: the bulk
of the stream is generated already sorted and goes straight into Lindley's recursion
(:class:`sim.server.FifoServer`). Only the `since` fetches that follow news are extra and spliced in.

Open-loop approximation: a dependent request (the `since` GET after an orders GET) is placed where it would
arrive if its parent had not queued; its parent's queue wait is then added to the delivery time. Exact while
queues are short compared to the interval (the SimPy model in sim.des checks it); under overload latencies
stay right in magnitude. A message is seen by the first poll reaching the server after its commit.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from pollbench.strategies import Poll
from sim.context import Progress, RunContext
from sim.network import orders_get_bytes
from sim.server import FifoServer
from sim.tally import Tally

__all__ = [
    "ADMIN_PAGE_ORDERS",
    "WINDOW_REQUESTS",
    "energy_locals",
    "period_columns",
    "run_poll",
    "server_pairs",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

WINDOW_REQUESTS = 2_000_000
"""Requests generated per time window; bounds memory whatever the run's size."""
ADMIN_PAGE_ORDERS = 50
"""Orders on one page of the admin panel's order list (its changed-list response size)."""


def period_columns(offsets: FloatArray, period: float) -> tuple[FloatArray, IntArray, IntArray]:
    """Sorted in-period arrival offsets, each slot's column in that order, and its period shift."""
    shift = np.floor(offsets / period).astype(np.int64)
    inner = offsets - shift * period
    by_time = np.argsort(inner, kind="stable")
    column = np.empty(offsets.size, dtype=np.int64)
    column[by_time] = np.arange(offsets.size)
    return inner[by_time], column, shift


def server_pairs(ctx: RunContext, server: int) -> tuple[IntArray, IntArray]:
    """Indices of the delivery pairs whose recipient is on `server`, and each one's local client index."""
    servers = ctx.population.servers
    idx = np.flatnonzero(ctx.pairs.client % servers == server) if servers > 1 else np.arange(len(ctx.pairs))
    return idx, (ctx.pairs.client[idx] - server) // servers


def energy_locals(ctx: RunContext, clients: IntArray) -> IntArray:
    return np.flatnonzero(np.isin(clients, ctx.energy_clients))


def _windows(periods: int, per_period: int) -> range:
    return range(0, periods, max(1, WINDOW_REQUESTS // max(1, per_period)))


def run_poll(strategy: Poll, ctx: RunContext, tally: Tally, progress: Progress | None = None) -> None:
    """Differential polling: a conditional orders GET per tick, a `since` GET per order with news."""
    for server in range(ctx.population.servers):
        _poll_server(strategy.interval_s, strategy.spec, ctx, tally, server)
        if progress:
            progress((server + 1) / ctx.population.servers)


def _poll_server(period: float, spec: str, ctx: RunContext, tally: Tally, server: int) -> None:
    pop, wire, duration = ctx.population, ctx.calibration.bytes, ctx.duration
    clients = pop.clients_of(server)
    n = clients.size
    rng = ctx.rng(spec, server)
    rtt = ctx.rtt_s[clients]
    offset = rng.uniform(0.0, period, n)
    inner, column, _ = period_columns(offset, period)
    listed = np.where(clients >= pop.customers, min(pop.orders, ADMIN_PAGE_ORDERS), pop.orders_per_customer)
    ticks = math.ceil(duration / period)

    idx, loc = server_pairs(ctx, server)
    tally.sent += idx.size
    commit = ctx.pairs.commit_s[idx]
    kstar = np.ceil((commit - offset[loc]) / period).astype(np.int64)

    energy_loc = energy_locals(ctx, clients)
    s304, s200 = ctx.service.mean("orders_304"), ctx.service.mean("orders_200")
    fifo = FifoServer()
    rows = max(1, WINDOW_REQUESTS // n)
    for p0 in range(0, ticks, rows):
        p1 = min(ticks, p0 + rows)
        arrivals = ((np.arange(p0, p1) * period)[:, None] + inner[None, :]).ravel()
        valid = int(np.searchsorted(arrivals, duration))
        # Pairs seen by ticks p0..p1-1: their commits lie within a period of the window (offsets < T).
        lo, hi = np.searchsorted(commit, [(p0 - 1) * period, p1 * period], side="right")
        sel = lo + np.flatnonzero((kstar[lo:hi] >= p0) & (kstar[lo:hi] < p1))
        parent_of_pair = (kstar[sel] - p0) * n + column[loc[sel]]
        sel = sel[parent_of_pair < valid]
        groups = _Groups(ctx, idx[sel], loc[sel], kstar[sel] - p0, n)
        gl = groups.loc
        parent = groups.tick * n + column[gl]
        means = np.full(arrivals.size, s304)
        means[parent] = s200
        services = ctx.service.draw(rng, means)
        child_at = arrivals[parent] + services[parent] + rtt[gl]
        child_srv = ctx.service.draw_kind(rng, "since", child_at.size)
        w_base, w_child = fifo.process_merged(arrivals[:valid], services[:valid], child_at, child_srv)
        tally.add_waits(w_base, services[:valid])
        tally.add_waits(w_child, child_srv)
        tally.requests += valid + child_at.size
        tally.polls += valid
        tally.empty_polls += valid - int(groups.new_tick.sum())
        changed = listed[gl[groups.new_tick]]
        tally.bytes += valid * orders_get_bytes(wire, changed=False, orders=0) + float(
            changed.sum() * wire.orders_list_body_per_order
        )
        tally.bytes += float(
            child_at.size * (wire.request + wire.response_headers + wire.since_envelope)
            + groups.pairs.size * wire.message_overhead
            + groups.text.sum()
        )
        pg = groups.group
        received = (
            child_at[pg] + w_base[parent[pg]] + w_child[pg] + child_srv[pg] + rtt[groups.pair_loc] / 2.0
        )
        pi = groups.pairs
        tally.add_deliveries(
            commit_s=ctx.pairs.commit_s[pi],
            received_s=received,
            client=ctx.pairs.client[pi],
            order=ctx.pairs.order[pi],
            seq=ctx.pairs.seq[pi],
        )
        tally.add_activity(clients[gl], child_at - rtt[gl] / 2.0)
        if energy_loc.size:
            sends = (
                (np.arange(p0, p1) * period)[:, None] + offset[energy_loc][None, :] - rtt[energy_loc] / 2.0
            )
            tally.add_activity(np.broadcast_to(clients[energy_loc], sends.shape).ravel(), sends.ravel())


class _Groups:
    """Messages one window's ticks find, grouped per (tick, client, order): one `since` GET per group."""

    def __init__(self, ctx: RunContext, pairs: IntArray, loc: IntArray, tick: IntArray, clients: int) -> None:
        key = (tick * clients + loc) * ctx.population.orders + ctx.pairs.order[pairs]
        by_key = np.argsort(key, kind="stable")
        key = key[by_key]
        self.pairs, self.pair_loc = pairs[by_key], loc[by_key]
        starts = np.r_[True, key[1:] != key[:-1]] if key.size else np.empty(0, dtype=bool)
        first = np.flatnonzero(starts)
        self.group = np.cumsum(starts) - 1
        """Group of each pair."""
        self.tick, self.loc = tick[by_key][first], self.pair_loc[first]
        self.text = np.add.reduceat(ctx.pairs.size_bytes[self.pairs], first) if key.size else np.zeros(0)
        tick_key = self.tick * clients + self.loc
        self.new_tick = (
            np.r_[True, tick_key[1:] != tick_key[:-1]] if tick_key.size else np.empty(0, dtype=bool)
        )
        """True for the first group of each (tick, client): one news tick each."""
