"""The seed's dashboard in bulk: every tick the order list, then one full GET per order, one after the other.

This is the seed's `fetchMessageCounts` loop on a 3 s setInterval: 1 + K requests per tick, no ETag, no
cursor, every answer a full body (~2 KB per order). Admins run the seed's admin panel, which polls the order
list only. Each GET of a tick leaves when the previous one has answered, so within a period every request of
every client sits at a fixed offset (tick phase + RTTs + mean services): one sort of those offsets orders a
whole period, exactly as for poll:T (sim.polling). A message in order j is found by GET j of the first tick
reaching the server after the commit; the queue waits of the earlier GETs of that tick delay it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pollbench.strategies import SeedDashboard
from sim.context import Progress, RunContext
from sim.network import full_get_bytes, orders_get_bytes
from sim.polling import ADMIN_PAGE_ORDERS, WINDOW_REQUESTS, energy_locals, period_columns, server_pairs
from sim.server import ServiceModel
from sim.tally import Tally

__all__ = ["run_seed_dashboard"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Layout:
    """One server's request slots within a period: who sends each, where it sits, what it costs."""

    clients: IntArray
    """Client ids on this server."""
    rtt: FloatArray
    """Their round-trip times."""
    owner: IntArray
    """Local client index of each slot."""
    step: IntArray
    """Position of each slot in its client's chain (0 = the order list)."""
    base: IntArray
    """First slot of each client."""
    offset: FloatArray
    """Arrival offset of each slot from its tick."""
    inner: FloatArray
    """Sorted in-period offsets (one period's arrivals)."""
    column: IntArray
    """Column of each slot in that sorted order."""
    shift: IntArray
    """Periods between a slot's tick and its arrival."""
    bytes_by_col: FloatArray
    """Wire bytes of the request in each column."""
    means_by_col: FloatArray
    """Mean service time of the request in each column."""
    list_col: npt.NDArray[np.bool_]
    """Columns holding an order-list GET (one per poll)."""


def _layout(
    ctx: RunContext, server: int, period: float, rng: np.random.Generator, service: ServiceModel
) -> _Layout:
    pop, wire = ctx.population, ctx.calibration.bytes
    clients = pop.clients_of(server)
    rtt = ctx.rtt_s[clients]
    chain = np.where(clients >= pop.customers, 1, 1 + pop.orders_per_customer)
    base = np.cumsum(chain) - chain
    owner = np.repeat(np.arange(clients.size, dtype=np.int64), chain)
    step = np.arange(owner.size, dtype=np.int64) - base[owner]
    s_list, s_full = service.mean("orders_200"), service.mean("full_messages")
    # GET j of the chain leaves once GET j-1 has answered: one RTT plus (mean) service per step.
    lead = np.where(step > 0, s_list + (step - 1) * s_full, 0.0) + step * rtt[owner]
    offset = rng.uniform(0.0, period, clients.size)[owner] + lead
    inner, column, shift = period_columns(offset, period)
    listed = np.where(
        clients[owner] >= pop.customers, min(pop.orders, ADMIN_PAGE_ORDERS), pop.orders_per_customer
    )
    list_bytes = orders_get_bytes(wire, changed=True, orders=0) + wire.orders_list_body_per_order * listed
    bytes_by_col, means_by_col = np.empty(inner.size), np.empty(inner.size)
    bytes_by_col[column] = np.where(step == 0, list_bytes, full_get_bytes(wire, ctx.conversation_bytes))
    means_by_col[column] = np.where(step == 0, s_list, s_full)
    list_col = np.zeros(inner.size, dtype=bool)
    list_col[column[step == 0]] = True
    return _Layout(
        clients=clients, rtt=rtt, owner=owner, step=step, base=base, offset=offset, inner=inner,
        column=column, shift=shift, bytes_by_col=bytes_by_col, means_by_col=means_by_col, list_col=list_col,
    )  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class _Found:
    """Delivery pairs of one server with the slot and tick that fetch each, in commit order."""

    idx: IntArray
    """Pair indices (into ctx.pairs)."""
    loc: IntArray
    """Local client index of the recipient."""
    slot: IntArray
    """Slot (GET) that fetches the message."""
    tick: IntArray
    """Tick of that GET."""
    period: IntArray
    """Period in which that GET reaches the server."""
    visible: FloatArray
    """When each message became visible to the server's readers (ascending): commit + commit time."""


def _found(ctx: RunContext, server: int, lay: _Layout, period: float, tally: Tally) -> _Found:
    pop = ctx.population
    idx, loc = server_pairs(ctx, server)
    tally.sent += idx.size
    order_in = ctx.pairs.order[idx] - lay.clients[loc] * pop.orders_per_customer
    slot = lay.base[loc] + np.where(lay.clients[loc] >= pop.customers, 0, 1 + order_in)
    visible = ctx.pairs.commit_s[idx] + ctx.visible_delay_s
    tick = np.ceil((visible - lay.offset[slot]) / period).astype(np.int64)
    when = tick + lay.shift[slot]
    ok = when * period + lay.inner[lay.column[slot]] < ctx.duration
    return _Found(
        idx=idx[ok],
        loc=loc[ok],
        slot=slot[ok],
        tick=tick[ok],
        period=when[ok],
        visible=visible[ok],
    )


def _news_ticks(found: _Found, lay: _Layout, periods: int) -> int:
    """Ticks that found at least one message, counted once per (tick, client)."""
    lead = int(lay.shift.max()) + 1 if lay.shift.size else 1
    news = np.zeros((periods + lead + 1, lay.clients.size), dtype=bool)
    news[found.tick + lead, found.loc] = True
    return int(np.count_nonzero(news))


def _chain_waits(
    lay: _Layout, loc: IntArray, slot: IntArray, tick: IntArray, p0: int, w2d: FloatArray, prev_w: FloatArray
) -> FloatArray:
    """Queue waits of the earlier GETs of the same tick (the chain is sequential), looked up by period."""
    total = np.zeros(slot.size)
    # Only messages fetched after step j have a GET j before them: narrow to those as j grows (admins and
    # the order list drop out at once), adding in the same j order as a full pass would.
    pos = np.flatnonzero(lay.step[slot] > 0)
    step, first, tick = lay.step[slot[pos]], lay.base[loc[pos]], tick[pos]
    for j in range(int(lay.step.max()) if lay.step.size else 0):
        keep = step > j
        pos, step, first, tick = pos[keep], step[keep], first[keep], tick[keep]
        pred = first + j
        row = tick + lay.shift[pred] - p0
        here = row >= 0
        back = ~here & (row + prev_w.shape[0] >= 0)  # predecessor in the previous window
        total[pos[here]] += w2d[row[here], lay.column[pred[here]]]
        total[pos[back]] += prev_w[row[back] + prev_w.shape[0], lay.column[pred[back]]]
    return total


def run_seed_dashboard(
    strategy: SeedDashboard, ctx: RunContext, tally: Tally, progress: Progress | None = None
) -> None:
    """The seed's dashboard on every server process."""
    for server in range(ctx.population.servers):
        _seed_server(strategy, ctx, tally, server)
        if progress:
            progress((server + 1) / ctx.population.servers)


def _seed_server(strategy: SeedDashboard, ctx: RunContext, tally: Tally, server: int) -> None:
    period, duration = strategy.interval_s, ctx.duration
    rng = ctx.rng(strategy.spec, server)
    service = ctx.process_service(strategy, server)
    lay = _layout(ctx, server, period, rng, service)
    found = _found(ctx, server, lay, period, tally)
    periods = math.ceil(duration / period)
    news_ticks = _news_ticks(found, lay, periods)
    energy_slots = np.flatnonzero(np.isin(lay.owner, energy_locals(ctx, lay.clients)))
    fifo = service.fifo()
    polls_before = tally.polls
    ncol = lay.inner.size
    prev_w: FloatArray = np.zeros((0, ncol))
    rows = max(1, WINDOW_REQUESTS // ncol)
    for p0 in range(0, periods, rows):
        p1 = min(periods, p0 + rows)
        arrivals = ((np.arange(p0, p1) * period)[:, None] + lay.inner[None, :]).ravel()
        valid = int(np.searchsorted(arrivals, duration))
        services = _draw_rows(ctx, rng, lay.means_by_col, p1 - p0)
        waits = np.zeros(arrivals.size)
        waits[:valid] = fifo.process_trusted(arrivals[:valid], services[:valid])
        _count(tally, lay, waits[:valid], services[:valid])
        w2d = waits.reshape(p1 - p0, ncol)
        _deliver(ctx, tally, lay, found, period, p0, p1, arrivals, waits, services, w2d, prev_w)
        if energy_slots.size:
            sends = (
                arrivals.reshape(p1 - p0, ncol)[:, lay.column[energy_slots]]
                - lay.rtt[lay.owner[energy_slots]] / 2
            )
            owners = np.broadcast_to(lay.clients[lay.owner[energy_slots]], sends.shape)
            tally.add_activity(owners.ravel(), sends.ravel())
        prev_w = w2d
    fifo.close(duration)
    tally.add_loop(scale=service.scale, loop=fifo)
    tally.empty_polls += max(0, tally.polls - polls_before - news_ticks)


def _draw_rows(ctx: RunContext, rng: np.random.Generator, means: FloatArray, rows: int) -> FloatArray:
    """``ctx.service.draw(rng, np.tile(means, rows))`` (same numbers) without the tiled array of means."""
    if ctx.service.deterministic:
        return np.tile(means, rows)
    out = rng.standard_exponential(rows * means.size)
    out.reshape(rows, means.size)[...] *= means
    return out


def _count(tally: Tally, lay: _Layout, waits: FloatArray, services: FloatArray) -> None:
    """Requests, polls, bytes and queue waits of one window's valid requests."""
    full_rows, rem = divmod(waits.size, lay.inner.size)
    tally.add_waits(waits, services)
    tally.requests += waits.size
    tally.polls += full_rows * int(lay.list_col.sum()) + int(lay.list_col[:rem].sum())
    tally.bytes += full_rows * float(lay.bytes_by_col.sum()) + float(lay.bytes_by_col[:rem].sum())


def _deliver(
    ctx: RunContext,
    tally: Tally,
    lay: _Layout,
    found: _Found,
    period: float,
    p0: int,
    p1: int,
    arrivals: FloatArray,
    waits: FloatArray,
    services: FloatArray,
    w2d: FloatArray,
    prev_w: FloatArray,
) -> None:
    """Deliveries made by the GETs of periods p0..p1-1."""
    # The fetching GET reaches the server within a period of the message becoming visible: a slice of
    # visible times covers the window.
    lo, hi = np.searchsorted(found.visible, [(p0 - 1) * period, p1 * period], side="right")
    sel = lo + np.flatnonzero((found.period[lo:hi] >= p0) & (found.period[lo:hi] < p1))
    loc, slot = found.loc[sel], found.slot[sel]
    flat = (found.period[sel] - p0) * lay.inner.size + lay.column[slot]
    received = arrivals[flat] + waits[flat] + services[flat] + lay.rtt[loc] / 2.0
    received += _chain_waits(lay, loc, slot, found.tick[sel], p0, w2d, prev_w)
    pi = found.idx[sel]
    tally.add_deliveries(
        commit_s=ctx.pairs.commit_s[pi],
        received_s=received,
        client=ctx.pairs.client[pi],
        order=ctx.pairs.order[pi],
        seq=ctx.pairs.seq[pi],
    )
