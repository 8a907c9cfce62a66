"""Periodic polling in bulk: poll:T (differential) and the seed's dashboard, for 10^5 clients.

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

from pollbench.strategies import Poll, SeedDashboard
from sim.context import Progress, RunContext
from sim.network import full_get_bytes, orders_get_bytes
from sim.server import FifoServer
from sim.tally import Tally

__all__ = ["ADMIN_PAGE_ORDERS", "WINDOW_REQUESTS", "run_poll", "run_seed_dashboard"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

WINDOW_REQUESTS = 2_000_000
"""Requests generated per time window; bounds memory whatever the run's size."""
ADMIN_PAGE_ORDERS = 50
"""Orders on one page of the admin panel's order list (its changed-list response size)."""


def _columns(offsets: FloatArray, period: float) -> tuple[FloatArray, IntArray, IntArray]:
    """Sorted in-period arrival offsets, each slot's column in that order, and its period shift."""
    shift = np.floor(offsets / period).astype(np.int64)
    inner = offsets - shift * period
    by_time = np.argsort(inner, kind="stable")
    column = np.empty(offsets.size, dtype=np.int64)
    column[by_time] = np.arange(offsets.size)
    return inner[by_time], column, shift


def _server_pairs(ctx: RunContext, server: int) -> tuple[IntArray, IntArray]:
    """Indices of the delivery pairs whose recipient is on `server`, and each one's local client index."""
    servers = ctx.population.servers
    idx = np.flatnonzero(ctx.pairs.client % servers == server) if servers > 1 else np.arange(len(ctx.pairs))
    return idx, (ctx.pairs.client[idx] - server) // servers


def _energy_locals(ctx: RunContext, clients: IntArray) -> IntArray:
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
    inner, column, _ = _columns(offset, period)
    listed = np.where(clients >= pop.customers, min(pop.orders, ADMIN_PAGE_ORDERS), pop.orders_per_customer)
    ticks = math.ceil(duration / period)

    idx, loc = _server_pairs(ctx, server)
    tally.sent += idx.size
    commit = ctx.pairs.commit_s[idx]
    kstar = np.ceil((commit - offset[loc]) / period).astype(np.int64)

    energy_loc = _energy_locals(ctx, clients)
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


def run_seed_dashboard(
    strategy: SeedDashboard, ctx: RunContext, tally: Tally, progress: Progress | None = None
) -> None:
    """The seed's dashboard: order list, then one full GET per order in sequence, every tick, no 304s.

    Admins run the seed's admin panel, which polls the order list only.
    """
    for server in range(ctx.population.servers):
        _seed_server(strategy, ctx, tally, server)
        if progress:
            progress((server + 1) / ctx.population.servers)


def _seed_slots(
    ctx: RunContext, clients: IntArray, offset: FloatArray, rtt: FloatArray
) -> tuple[FloatArray, IntArray, IntArray, IntArray]:
    """Each client's requests of one tick: offsets from the tick, owner, position in the chain, first slot."""
    k = ctx.population.orders_per_customer
    chain = np.where(clients >= ctx.population.customers, 1, 1 + k)
    base = np.cumsum(chain) - chain
    owner = np.repeat(np.arange(clients.size, dtype=np.int64), chain)
    step = np.arange(owner.size, dtype=np.int64) - base[owner]
    s_list, s_full = ctx.service.mean("orders_200"), ctx.service.mean("full_messages")
    # GET j of the chain leaves once GET j-1 has answered: one RTT plus (mean) service per step.
    lead = np.where(step > 0, s_list + (step - 1) * s_full, 0.0) + step * rtt[owner]
    return offset[owner] + lead, owner, step, base


def _seed_server(strategy: SeedDashboard, ctx: RunContext, tally: Tally, server: int) -> None:
    pop, wire, duration, period = ctx.population, ctx.calibration.bytes, ctx.duration, strategy.interval_s
    clients = pop.clients_of(server)
    rng = ctx.rng(strategy.spec, server)
    rtt = ctx.rtt_s[clients]
    offset = rng.uniform(0.0, period, clients.size)
    slot_off, owner, step, base = _seed_slots(ctx, clients, offset, rtt)
    inner, column, shift = _columns(slot_off, period)
    ncol = inner.size
    is_admin = clients[owner] >= pop.customers
    slot_bytes = np.where(
        step == 0,
        orders_get_bytes(wire, changed=True, orders=1)
        - wire.orders_list_body_per_order
        + wire.orders_list_body_per_order
        * np.where(is_admin, min(pop.orders, ADMIN_PAGE_ORDERS), pop.orders_per_customer),
        full_get_bytes(wire),
    ).astype(np.float64)
    bytes_by_col = np.empty(ncol)
    bytes_by_col[column] = slot_bytes
    means_by_col = np.empty(ncol)
    means_by_col[column] = np.where(
        step == 0, ctx.service.mean("orders_200"), ctx.service.mean("full_messages")
    )
    list_col = np.zeros(ncol, dtype=bool)
    list_col[column[step == 0]] = True
    periods = math.ceil(duration / period)

    idx, loc = _server_pairs(ctx, server)
    tally.sent += idx.size
    order_in = ctx.pairs.order[idx] - clients[loc] * pop.orders_per_customer
    slot = base[loc] + np.where(clients[loc] >= pop.customers, 0, 1 + order_in)
    kstar = np.ceil((ctx.pairs.commit_s[idx] - slot_off[slot]) / period).astype(np.int64)
    pstar = kstar + shift[slot]
    ok = pstar * period + inner[column[slot]] < duration
    idx, loc, slot, kstar, pstar = idx[ok], loc[ok], slot[ok], kstar[ok], pstar[ok]
    commit = ctx.pairs.commit_s[idx]
    # A tick with news, counted once per (tick, client) however many of its GETs found something.
    lead = int(shift.max()) + 1 if shift.size else 1
    news = np.zeros((periods + lead + 1, clients.size), dtype=bool)
    news[kstar + lead, loc] = True
    news_ticks = int(np.count_nonzero(news))
    del news

    energy_loc = _energy_locals(ctx, clients)
    energy_slots = np.flatnonzero(np.isin(owner, energy_loc))
    fifo = FifoServer()
    polls_before = tally.polls
    prev_w: FloatArray = np.zeros((0, ncol))
    prev_p0 = 0
    rows_per = max(1, WINDOW_REQUESTS // ncol)
    for p0 in range(0, periods, rows_per):
        p1 = min(periods, p0 + rows_per)
        arrivals = ((np.arange(p0, p1) * period)[:, None] + inner[None, :]).ravel()
        valid = int(np.searchsorted(arrivals, duration))
        services = ctx.service.draw(rng, np.tile(means_by_col, p1 - p0))
        waits = np.zeros(arrivals.size)
        waits[:valid] = fifo.process_trusted(arrivals[:valid], services[:valid])
        tally.add_waits(waits[:valid], services[:valid])
        full_rows, rem = divmod(valid, ncol)
        tally.requests += valid
        tally.polls += full_rows * int(list_col.sum()) + int(list_col[:rem].sum())
        tally.bytes += full_rows * float(bytes_by_col.sum()) + float(bytes_by_col[:rem].sum())
        w2d = waits.reshape(p1 - p0, ncol)

        # pstar*T lies within a period of the commit, so a slice of commits covers the window's pairs.
        lo, hi = np.searchsorted(commit, [(p0 - 1) * period, p1 * period], side="right")
        sel = lo + np.flatnonzero((pstar[lo:hi] >= p0) & (pstar[lo:hi] < p1))
        pl, ps, pk = loc[sel], slot[sel], kstar[sel]
        row = pstar[sel] - p0
        flat = row * ncol + column[ps]
        received = arrivals[flat] + waits[flat] + services[flat] + rtt[pl] / 2.0
        # Queue waits of the earlier GETs of the same tick delay this one (the chain is sequential).
        for j in range(int(step.max()) + 1 if step.size else 0):
            earlier = step[ps] > j
            pred = np.minimum(base[pl] + j, owner.size - 1)
            prow = pk + shift[pred] - p0
            here = earlier & (prow >= 0)
            back = earlier & (prow < 0) & (prow + prev_w.shape[0] >= 0)
            received[here] += w2d[prow[here], column[pred[here]]]
            received[back] += prev_w[prow[back] + prev_w.shape[0], column[pred[back]]]
        pi = idx[sel]
        tally.add_deliveries(
            commit_s=ctx.pairs.commit_s[pi],
            received_s=received,
            client=ctx.pairs.client[pi],
            order=ctx.pairs.order[pi],
            seq=ctx.pairs.seq[pi],
        )
        if energy_slots.size:
            sends = arrivals.reshape(p1 - p0, ncol)[:, column[energy_slots]] - rtt[owner[energy_slots]] / 2.0
            tally.add_activity(
                np.broadcast_to(clients[owner[energy_slots]], sends.shape).ravel(), sends.ravel()
            )
        prev_w, prev_p0 = w2d, p0
    del prev_p0
    tally.empty_polls += max(0, tally.polls - polls_before - news_ticks)
