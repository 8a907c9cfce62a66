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


def run_poll(strategy: Poll, ctx: RunContext, tally: Tally, progress: Progress | None = None) -> None:
    """Differential polling: a conditional orders GET per tick, a `since` GET per order with news."""
    for server in range(ctx.population.servers):
        poller = _PollServer(strategy, ctx, tally, server)
        rows = max(1, WINDOW_REQUESTS // poller.clients.size)
        for p0 in range(0, poller.ticks, rows):
            poller.window(p0, min(poller.ticks, p0 + rows))
        if progress:
            progress((server + 1) / ctx.population.servers)


class _PollServer:
    """poll:T on one server process, simulated window by window (m ticks of every client at a time)."""

    def __init__(self, strategy: Poll, ctx: RunContext, tally: Tally, server: int) -> None:
        pop, self.ctx, self.tally, self.period = ctx.population, ctx, tally, strategy.interval_s
        self.clients = pop.clients_of(server)
        self.rng = ctx.rng(strategy.spec, server)
        self.rtt = ctx.rtt_s[self.clients]
        self.offset = self.rng.uniform(0.0, self.period, self.clients.size)
        self.inner, self.column, _ = period_columns(self.offset, self.period)
        self.listed = np.where(
            self.clients >= pop.customers, min(pop.orders, ADMIN_PAGE_ORDERS), pop.orders_per_customer
        )
        self.ticks = math.ceil(ctx.duration / self.period)
        self.idx, self.loc = server_pairs(ctx, server)
        tally.sent += self.idx.size
        self.commit = ctx.pairs.commit_s[self.idx]
        # The first tick reaching the server at or after the commit finds the message.
        self.tick = np.ceil((self.commit - self.offset[self.loc]) / self.period).astype(np.int64)
        self.energy_loc = energy_locals(ctx, self.clients)
        self.fifo = FifoServer()

    def window(self, p0: int, p1: int) -> None:
        """Ticks p0..p1-1: queue the orders GETs and the `since` GETs they trigger, deliver, count."""
        ctx, n = self.ctx, self.clients.size
        arrivals = ((np.arange(p0, p1) * self.period)[:, None] + self.inner[None, :]).ravel()
        valid = int(np.searchsorted(arrivals, ctx.duration))
        groups = self._groups(p0, p1, valid)
        parent = groups.tick * n + self.column[groups.loc]
        means = np.full(arrivals.size, ctx.service.mean("orders_304"))
        means[parent] = ctx.service.mean("orders_200")
        services = ctx.service.draw(self.rng, means)
        child_at = arrivals[parent] + services[parent] + self.rtt[groups.loc]
        child_srv = ctx.service.draw_kind(self.rng, "since", child_at.size)
        w_base, w_child = self.fifo.process_merged(arrivals[:valid], services[:valid], child_at, child_srv)
        self.tally.add_waits(w_base, services[:valid])
        self.tally.add_waits(w_child, child_srv)
        self._count(valid, groups)
        pg = groups.group
        received = (
            child_at[pg] + w_base[parent[pg]] + w_child[pg] + child_srv[pg] + self.rtt[groups.pair_loc] / 2
        )
        pi = groups.pairs
        self.tally.add_deliveries(
            commit_s=ctx.pairs.commit_s[pi],
            received_s=received,
            client=ctx.pairs.client[pi],
            order=ctx.pairs.order[pi],
            seq=ctx.pairs.seq[pi],
        )
        self.tally.add_activity(self.clients[groups.loc], child_at - self.rtt[groups.loc] / 2.0)
        self._energy(p0, p1)

    def _groups(self, p0: int, p1: int, valid: int) -> _Groups:
        # Pairs seen by ticks p0..p1-1: their commits lie within a period of the window (offsets < T).
        lo, hi = np.searchsorted(self.commit, [(p0 - 1) * self.period, p1 * self.period], side="right")
        sel = lo + np.flatnonzero((self.tick[lo:hi] >= p0) & (self.tick[lo:hi] < p1))
        parent = (self.tick[sel] - p0) * self.clients.size + self.column[self.loc[sel]]
        sel = sel[parent < valid]
        return _Groups(self.ctx, self.idx[sel], self.loc[sel], self.tick[sel] - p0, self.clients.size)

    def _count(self, valid: int, groups: _Groups) -> None:
        wire, tally = self.ctx.calibration.bytes, self.tally
        since = groups.loc.size
        tally.requests += valid + since
        tally.polls += valid
        tally.empty_polls += valid - int(groups.new_tick.sum())
        changed = self.listed[groups.loc[groups.new_tick]]
        tally.bytes += valid * orders_get_bytes(wire, changed=False, orders=0)
        tally.bytes += float(changed.sum() * wire.orders_list_body_per_order)
        tally.bytes += float(since * (wire.request + wire.response_headers + wire.since_envelope))
        tally.bytes += float(groups.pairs.size * wire.message_overhead + groups.text.sum())

    def _energy(self, p0: int, p1: int) -> None:
        e = self.energy_loc
        if e.size:
            sends = (np.arange(p0, p1) * self.period)[:, None] + self.offset[e][None, :] - self.rtt[e] / 2.0
            self.tally.add_activity(np.broadcast_to(self.clients[e], sends.shape).ravel(), sends.ravel())


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
