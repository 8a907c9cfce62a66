"""Adaptive polling in the model: each client's interval backs off while polls come back empty.

The schedule depends on each client's own news, so it cannot be laid out in advance like setInterval; all
clients are stepped forward together, one poll each per step (vectorised across clients). The interval rule
and browser throttling of hidden tabs are the shared spec's (``Adaptive.next_interval`` and
``Adaptive.effective_interval`` of pollbench.strategies), applied elementwise; a test checks the two agree.
The next poll is timed from the previous one (the timer is re-armed when the poll is sent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pollbench.strategies import Adaptive
from sim.connections import chain_offsets, fetch_lanes, lane_order
from sim.context import Progress, RunContext
from sim.polling import ADMIN_PAGE_ORDERS, WINDOW_REQUESTS, server_pairs
from sim.server import waits_in_any_order
from sim.tally import Tally
from sim.workload import TabVisibility, advance_past, stable_group_order

__all__ = ["effective_intervals", "next_intervals", "poll_schedule", "run_adaptive"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
SmallInts = npt.NDArray[np.signedinteger[Any]]
"""int32 where one server's clients and pairs fit (always in practice), else int64."""


def next_intervals(spec: Adaptive, current_s: FloatArray, got_news: npt.NDArray[np.bool_]) -> FloatArray:
    """Elementwise :meth:`Adaptive.next_interval`."""
    grown = np.minimum(spec.max_s, np.maximum(spec.min_s, current_s * spec.factor))
    return np.where(got_news, spec.min_s, grown)


def effective_intervals(spec: Adaptive, interval_s: FloatArray, hidden_for_s: FloatArray) -> FloatArray:
    """Elementwise :meth:`Adaptive.effective_interval`; NaN in `hidden_for_s` means the tab is visible."""
    hidden = ~np.isnan(hidden_for_s)
    throttled = hidden & (np.nan_to_num(hidden_for_s, nan=0.0) >= spec.throttle_after_s)
    floor = np.where(throttled, spec.throttled_s, np.where(hidden, spec.hidden_min_s, 0.0))
    return np.maximum(interval_s, floor)


def poll_schedule(
    spec: Adaptive,
    *,
    rng: np.random.Generator,
    commit_s: FloatArray,
    owner: IntArray,
    clients: int,
    duration: float,
    hidden_fraction: float,
) -> tuple[FloatArray, SmallInts, SmallInts, SmallInts]:
    """Poll arrival times of every client over the run and which messages each poll finds.

    `commit_s`/`owner` are the client's messages sorted by (owner, commit). Returns per poll: time, client,
    index of its first new message, and how many new messages it finds.
    """
    counts = np.bincount(owner, minlength=clients)
    end = np.cumsum(counts)
    ptr = end - counts
    at = rng.uniform(0.0, spec.min_s, clients)
    interval = np.full(clients, spec.min_s)
    tabs = TabVisibility(rng, clients, hidden_fraction)
    out_t: list[FloatArray] = []
    out_c: list[SmallInts] = []
    out_p: list[SmallInts] = []
    out_n: list[SmallInts] = []
    small = np.int32 if max(clients, commit_s.size) < 2**31 else np.int64
    active = np.arange(clients, dtype=np.int64)
    while active.size:
        t = at[active]
        hi = advance_past(commit_s, ptr, end, active, t)
        found = hi - ptr[active]
        out_t.append(t)
        # Clients, pair indices and counts fit int32 on one server: the poll table is ~10^8 rows at 10^5
        # clients, and its size is what the run pays in fresh pages.
        out_c.append(active.astype(small))
        out_p.append(ptr[active].astype(small))
        out_n.append(found.astype(small))
        ptr[active] = hi
        interval[active] = next_intervals(spec, interval[active], found > 0)
        at[active] = t + effective_intervals(spec, interval[active], tabs.hidden_for(t, active))
        active = active[at[active] < duration]
    return _joined(out_t), _joined(out_c), _joined(out_p), _joined(out_n)


def _joined(parts: list[npt.NDArray[Any]]) -> npt.NDArray[Any]:
    """Concatenate `parts`, letting them go as soon as the joined copy exists."""
    out = np.concatenate(parts) if parts else np.empty(0)
    parts.clear()
    return out


def run_adaptive(strategy: Adaptive, ctx: RunContext, tally: Tally, progress: Progress | None = None) -> None:
    """Adaptive differential polling on every server process."""
    for server in range(ctx.population.servers):
        _adaptive_server(strategy, ctx, tally, server)
        if progress:
            progress((server + 1) / ctx.population.servers)


def _adaptive_server(spec: Adaptive, ctx: RunContext, tally: Tally, server: int) -> None:
    clients = ctx.population.clients_of(server)
    rng = ctx.rng(spec.spec, server)
    service = ctx.process_service(spec, server)
    rtt = ctx.rtt_s[clients]
    idx, loc = server_pairs(ctx, server)
    by_owner = stable_group_order(loc, clients.size)  # pairs are in commit order: (client, commit) order
    idx, loc = idx[by_owner], loc[by_owner]
    tally.sent += idx.size
    polls = _Polls(
        *poll_schedule(
            spec,
            rng=rng,
            commit_s=ctx.pairs.commit_s[idx] + ctx.visible_delay_s,  # a poll sees what is visible
            owner=loc,
            clients=clients.size,
            duration=ctx.duration,
            hidden_fraction=ctx.scenario.hidden_fraction,
        )
    )
    pi, group, g_poll = _since_groups(ctx, polls, idx)
    news = polls.found > 0
    parent_srv = service.draw_indexed(
        rng, np.array([service.mean("orders_304"), service.mean("orders_200")]), news.view(np.int8)
    )
    # The `since` GETs of one poll run in lanes (one for a customer, six for an admin), each leaving when
    # the one before it in its lane has answered; placed open loop, their waits added to the deliveries.
    requester = polls.client[g_poll]
    order, first = lane_order(np.r_[True, g_poll[1:] != g_poll[:-1]], fetch_lanes(ctx.population,
                              clients[requester]))  # fmt: skip
    item = np.arange(g_poll.size)
    if order is not None:
        item[order] = np.arange(order.size)
        g_poll, requester = g_poll[order], requester[order]
    child_srv = service.draw_kind(rng, "since", g_poll.size)
    child_at = polls.time[g_poll] + parent_srv[g_poll] + rtt[requester]
    child_at += chain_offsets(child_srv + rtt[requester], first)
    services = np.concatenate([parent_srv, child_srv])
    fifo = service.fifo()
    waits = waits_in_any_order(
        np.concatenate([polls.time, child_at]), services, chunk=WINDOW_REQUESTS, fifo=fifo
    )
    fifo.close(ctx.duration)
    tally.add_loop(scale=service.scale, loop=fifo)
    tally.add_waits(waits, services)
    # What the open-loop layout left out: queueing and cold start of the orders GET and of the fetches
    # before each one in its lane.
    n_polls = polls.time.size
    w_child, s_child = waits[n_polls:], services[n_polls:]
    head_poll = g_poll[np.maximum.accumulate(np.where(first, np.arange(first.size), 0))]
    delay = waits[head_poll] + services[head_poll] - parent_srv[head_poll]
    delay += chain_offsets(w_child + s_child - child_srv, first)
    _count(ctx, tally, clients, polls, child_at.size, pi)
    done = child_at + delay + w_child + s_child
    at = item[group]
    tally.add_deliveries(
        commit_s=ctx.pairs.commit_s[pi],
        received_s=done[at] + rtt[requester[at]] / 2.0,
        client=ctx.pairs.client[pi],
        order=ctx.pairs.order[pi],
        seq=ctx.pairs.seq[pi],
    )
    tally.add_activity(clients[polls.client], polls.time - rtt[polls.client] / 2.0)
    tally.add_activity(clients[requester], child_at - rtt[requester] / 2.0)
    tally.extra["mean_interval_s"] = float(ctx.duration * clients.size / max(1, polls.time.size))


@dataclass(frozen=True, slots=True)
class _Polls:
    """Every poll of one server's clients (arrival order per client)."""

    time: FloatArray
    """Arrival at the server."""
    client: SmallInts
    """Local client index."""
    first: SmallInts
    """First new message found (index into the client-grouped pairs)."""
    found: SmallInts
    """Number of new messages found."""


def _since_groups(ctx: RunContext, polls: _Polls, idx: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Messages found by each poll grouped per (poll, order): pair indices, their group, each group's poll."""
    # Only polls that found news deliver: work on those (a small share of all polls) in poll order.
    carrying = np.flatnonzero(polls.found > 0)
    count = polls.found[carrying].astype(np.int64)
    delivering = np.repeat(carrying, count)
    starts = np.repeat(np.cumsum(count) - count, count)
    pi = idx[np.repeat(polls.first[carrying].astype(np.int64), count) + np.arange(delivering.size) - starts]
    key = delivering * ctx.population.orders + ctx.pairs.order[pi]
    by_key = np.argsort(key, kind="stable")  # already sorted by poll: timsort only orders each poll's block
    key, pi, delivering = key[by_key], pi[by_key], delivering[by_key]
    new_group = np.r_[True, key[1:] != key[:-1]] if key.size else np.empty(0, dtype=bool)
    return pi, np.cumsum(new_group) - 1, delivering[np.flatnonzero(new_group)]


def _count(ctx: RunContext, tally: Tally, clients: IntArray, polls: _Polls, since: int, pi: IntArray) -> None:
    pop, wire = ctx.population, ctx.calibration.bytes
    news = polls.found > 0
    listed = np.where(
        clients[polls.client[news]] >= pop.customers,
        min(pop.orders, ADMIN_PAGE_ORDERS),
        pop.orders_per_customer,
    )
    requests = polls.time.size + since
    tally.requests += requests
    tally.polls += polls.time.size
    tally.empty_polls += int(polls.time.size - news.sum())
    tally.bytes += float(
        requests * (wire.request + wire.response_headers)
        + listed.sum() * wire.orders_list_body_per_order
        + since * wire.since_envelope
        + pi.size * wire.message_overhead
        + ctx.pairs.size_bytes[pi].sum()
    )
