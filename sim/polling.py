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
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pollbench.strategies import Poll
from sim.connections import chain_offsets, fetch_lanes, lane_order
from sim.context import Progress, RunContext
from sim.network import orders_get_bytes
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
        _PollServer(strategy, ctx, tally, server).run()
        if progress:
            progress((server + 1) / ctx.population.servers)


class _PollServer:
    """poll:T on one server process, simulated window by window (m ticks of every client at a time)."""

    def __init__(self, strategy: Poll, ctx: RunContext, tally: Tally, server: int) -> None:
        pop, self.ctx, self.tally, self.period = ctx.population, ctx, tally, strategy.interval_s
        self.clients = pop.clients_of(server)
        self.rng = ctx.rng(strategy.spec, server)
        self.service = ctx.process_service(strategy, server)
        self.rtt = ctx.rtt_s[self.clients]
        self.lanes = fetch_lanes(pop, self.clients)
        self.offset = self.rng.uniform(0.0, self.period, self.clients.size)
        self.inner, self.column, _ = period_columns(self.offset, self.period)
        self.listed = np.where(
            self.clients >= pop.customers, min(pop.orders, ADMIN_PAGE_ORDERS), pop.orders_per_customer
        )
        self.ticks = math.ceil(ctx.duration / self.period)
        self.idx, self.loc = server_pairs(ctx, server)
        tally.sent += self.idx.size
        self.commit = ctx.pairs.commit_s[self.idx] + ctx.visible_delay_s  # when readers can see it
        # The first tick reaching the server at or after the message is visible finds it.
        self.tick = np.ceil((self.commit - self.offset[self.loc]) / self.period).astype(np.int64)
        self.energy_loc = energy_locals(ctx, self.clients)
        self.fifo = self.service.fifo()
        self.pending = _Fetches.none()

    def run(self) -> None:
        rows = max(1, WINDOW_REQUESTS // self.clients.size)
        for p0 in range(0, self.ticks, rows):
            self.window(p0, min(self.ticks, p0 + rows))
        self.fifo.close(self.ctx.duration)
        self.tally.add_loop(scale=self.service.scale, loop=self.fifo)

    def window(self, p0: int, p1: int) -> None:
        """Ticks p0..p1-1: queue the orders GETs and the `since` GETs they trigger, deliver, count."""
        ctx, n, service = self.ctx, self.clients.size, self.service
        arrivals = ((np.arange(p0, p1) * self.period)[:, None] + self.inner[None, :]).ravel()
        valid = int(np.searchsorted(arrivals, ctx.duration))
        groups = self._groups(p0, p1, valid)
        parent = groups.tick * n + self.column[groups.loc]
        means = np.full(arrivals.size, service.mean("orders_304"))
        means[parent] = service.mean("orders_200")
        services = service.draw(self.rng, means)
        child_srv = service.draw_kind(self.rng, "since", groups.loc.size)
        fresh = _Fetches.of_ticks(groups, arrivals, services, parent, child_srv, self.rtt, self.lanes)
        self.tally.add_activity(self.clients[fresh.loc], fresh.at - self.rtt[fresh.loc] / 2.0)
        fetches = self.pending.join(fresh)
        # Fetches arriving after the next window's first orders GET wait for that window's queue.
        horizon = math.inf if p1 >= self.ticks else p1 * self.period + float(self.inner[0])
        take = fetches.at < horizon
        every = bool(take.all())  # the usual case: nothing to carry, so no copies
        heads = np.flatnonzero(fetches.parent >= 0)  # this window's chains, behind their orders GET
        parents = fetches.parent[heads]
        cold = self.fifo.cold_start is not None
        parent_srv = services[parents] if cold else None
        take_srv = fetches.srv if every else fetches.srv[take]
        planned = take_srv.copy() if cold else None
        w_base, w_take = self.fifo.process_merged(
            arrivals[:valid], services[:valid], fetches.at if every else fetches.at[take], take_srv
        )
        self.tally.add_waits(w_base, services[:valid])
        self.tally.add_waits(w_take, take_srv)
        self._count(valid, groups)
        # A chain's first fetch waited for its orders GET (queue wait and cold start, which the open-loop
        # layout left out); every later one also for the fetches before it in its lane.
        fetches.delay[heads] = w_base[parents]
        lost = w_take if planned is None else w_take + take_srv - planned
        if parent_srv is not None:
            fetches.delay[heads] += services[parents] - parent_srv
        if not every:
            lost, spread = np.zeros(fetches.at.size), lost
            lost[take] = spread
        delay = fetches.delay[fetches.head_of()] + chain_offsets(lost, fetches.first)
        if every:
            done = fetches.at + delay + w_take + take_srv
        else:
            done = np.zeros(fetches.at.size)
            done[take] = fetches.at[take] + delay[take] + w_take + take_srv
        self._deliver(fetches, None if every else take, done)
        self.pending = _Fetches.none() if every else fetches.rest(take, delay)
        self._energy(p0, p1)

    def _deliver(self, fetches: _Fetches, take: npt.NDArray[np.bool_] | None, done: FloatArray) -> None:
        """Deliveries of the fetches queued in this window (`take`; None: all of them)."""
        ctx = self.ctx
        item, pi = fetches.pair_item, fetches.pairs
        if take is not None:
            mine = take[item]
            item, pi = item[mine], pi[mine]
        self.tally.add_deliveries(
            commit_s=ctx.pairs.commit_s[pi],
            received_s=done[item] + self.rtt[fetches.loc[item]] / 2,
            client=ctx.pairs.client[pi],
            order=ctx.pairs.order[pi],
            seq=ctx.pairs.seq[pi],
        )

    def _groups(self, p0: int, p1: int, valid: int) -> _Groups:
        # Pairs seen by ticks p0..p1-1: visible within a period of the window (offsets < T).
        lo, hi = np.searchsorted(self.commit, [(p0 - 1) * self.period, p1 * self.period], side="right")
        sel = lo + np.flatnonzero((self.tick[lo:hi] >= p0) & (self.tick[lo:hi] < p1))
        parent = (self.tick[sel] - p0) * self.clients.size + self.column[self.loc[sel]]
        sel = sel[parent < valid]
        return _Groups(
            self.ctx, self.idx[sel], self.loc[sel], self.tick[sel] - p0, self.clients.size, self.column
        )

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


@dataclass(frozen=True, slots=True, kw_only=True)
class _Fetches:
    """`since` GETs in lanes, chain by chain (see sim.connections.lane_order), with the pairs each delivers.

    Open loop: a fetch is placed where it would arrive if nothing before it had queued; ``delay`` (on each
    chain's first fetch) is the waiting its chain had already done before it, added to its deliveries.
    Fetches not yet queued are carried to the next window with their delay so far.
    """

    at: FloatArray
    """Arrival at the server."""
    srv: FloatArray
    """Service time."""
    loc: IntArray
    """Local index of the requesting client."""
    first: npt.NDArray[np.bool_]
    """True on the first fetch of each chain still to be queued."""
    parent: IntArray
    """Index of the orders GET (this window) a chain's first fetch follows; -1 when carried or not first."""
    delay: FloatArray
    """On a chain's first fetch: the waiting before it, not in `at` (filled in once its parent queued)."""
    pairs: IntArray
    """Delivery pairs (indices into ctx.pairs) the fetches answer, grouped by fetch."""
    pair_item: IntArray
    """Fetch of each pair."""

    @classmethod
    def none(cls) -> _Fetches:
        f, i = np.empty(0), np.empty(0, dtype=np.int64)
        return cls(at=f, srv=f, loc=i, first=np.empty(0, dtype=bool), parent=i, delay=f, pairs=i, pair_item=i)

    @classmethod
    def of_ticks(
        cls,
        groups: _Groups,
        arrivals: FloatArray,
        services: FloatArray,
        parent: IntArray,
        srv: FloatArray,
        rtt: FloatArray,
        lanes: IntArray,
    ) -> _Fetches:
        """One window's fetches: each tick's groups with news, in lanes behind their orders GET."""
        order, first = lane_order(groups.new_tick, lanes[groups.loc])
        loc = groups.loc
        if order is not None:
            loc, parent, srv = loc[order], parent[order], srv[order]
        hop = rtt[loc]
        at = arrivals[parent] + services[parent] + hop
        if not first.all():
            at += chain_offsets(srv + hop, first)
        if order is None:
            pair_item = groups.group
        else:
            item = np.empty(order.size, dtype=np.int64)
            item[order] = np.arange(order.size)
            pair_item = item[groups.group]
        return cls(
            at=at, srv=srv, loc=loc, first=first, parent=np.where(first, parent, -1), delay=np.zeros(at.size),
            pairs=groups.pairs, pair_item=pair_item,
        )  # fmt: skip

    def head_of(self) -> IntArray:
        """Index of each fetch's chain's first fetch."""
        return np.maximum.accumulate(np.where(self.first, np.arange(self.first.size), 0))

    def join(self, other: _Fetches) -> _Fetches:
        """These fetches followed by `other`'s (chains stay contiguous)."""
        if self.at.size == 0:
            return other
        return _Fetches(
            at=np.r_[self.at, other.at], srv=np.r_[self.srv, other.srv], loc=np.r_[self.loc, other.loc],
            first=np.r_[self.first, other.first], parent=np.r_[self.parent, other.parent],
            delay=np.r_[self.delay, other.delay], pairs=np.r_[self.pairs, other.pairs],
            pair_item=np.r_[self.pair_item, other.pair_item + self.at.size],
        )  # fmt: skip

    def rest(self, taken: npt.NDArray[np.bool_], delay: FloatArray) -> _Fetches:
        """The fetches not `taken`, each chain's remainder starting with the delay its chain has so far."""
        left = ~taken
        if not left.any():
            return _Fetches.none()
        first = (self.first | np.r_[False, taken[:-1]])[left]
        renumber = np.cumsum(left) - 1
        keep = left[self.pair_item]
        return _Fetches(
            at=self.at[left], srv=self.srv[left], loc=self.loc[left], first=first,
            parent=np.full(first.size, -1, dtype=np.int64), delay=delay[left], pairs=self.pairs[keep],
            pair_item=renumber[self.pair_item[keep]],
        )  # fmt: skip


class _Groups:
    """Messages one window's ticks find, grouped per (tick, client, order): one `since` GET per group.

    Groups are in the order their orders GETs reach the server (tick, then the client's place in the
    period), so the fetches they cause come out nearly sorted by time, which the queue's merge likes.
    """

    def __init__(
        self, ctx: RunContext, pairs: IntArray, loc: IntArray, tick: IntArray, clients: int, column: IntArray
    ) -> None:
        key = (tick * clients + column[loc]) * ctx.population.orders + ctx.pairs.order[pairs]
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
