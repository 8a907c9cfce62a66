"""Polling clients of the SimPy reference model: setInterval ticks, the seed's dashboard, adaptive, long-poll.

Each client is a SimPy process; every request half an RTT out, a job on its server's event loop, half an RTT
back. What a request finds is decided when its handler starts (the store is read then).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import simpy

from pollbench.strategies import Adaptive, LongPoll, Poll, SeedDashboard
from sim.connections import fetch_lanes
from sim.context import RunContext
from sim.des import EventLoop, MessageBoard, Proc, deliver
from sim.network import full_get_bytes, orders_get_bytes
from sim.polling import ADMIN_PAGE_ORDERS
from sim.tally import Tally
from sim.workload import TabVisibility

__all__ = ["adaptive_client", "channels", "longpoll_channel", "ticking_client"]


def _listed(ctx: RunContext, client: int) -> int:
    pop = ctx.population
    return min(pop.orders, ADMIN_PAGE_ORDERS) if client >= pop.customers else pop.orders_per_customer


def _activity(tally: Tally, client: int, t: float) -> None:
    tally.add_activity(np.array([client]), np.array([t]))


def ticking_client(
    env: simpy.Environment,
    loop: EventLoop,
    spec: Poll | SeedDashboard,
    client: int,
    rtt: float,
    tally: Tally,
    board: MessageBoard,
    rng: np.random.Generator,
) -> Proc:
    """setInterval: a tick every T seconds at a random phase, whatever the answers do."""
    yield env.timeout(float(rng.uniform(0.0, spec.interval_s)))
    while env.now < loop.ctx.duration:
        tick = _poll_tick if isinstance(spec, Poll) else _seed_tick
        env.process(tick(env, loop, client, rtt, tally, board))
        yield env.timeout(spec.interval_s)


def _poll_tick(
    env: simpy.Environment, loop: EventLoop, client: int, rtt: float, tally: Tally, board: MessageBoard
) -> Proc:
    ctx, wire = loop.ctx, loop.ctx.calibration.bytes
    _activity(tally, client, env.now)
    yield env.timeout(rtt / 2.0)
    if env.now >= ctx.duration:
        return
    tally.requests += 1
    tally.polls += 1
    news = yield from loop.job(
        lambda found: "orders_200" if found else "orders_304", lambda: board.news_orders(client)
    )
    tally.bytes += orders_get_bytes(wire, changed=bool(news), orders=_listed(ctx, client))
    if not news:
        tally.empty_polls += 1
        return
    yield env.timeout(rtt / 2.0)
    _fan_out(env, loop, client, news, rtt, tally, board)


def _fan_out(
    env: simpy.Environment,
    loop: EventLoop,
    client: int,
    news: list[int],
    rtt: float,
    tally: Tally,
    board: MessageBoard,
) -> None:
    """The `since` GETs of one tick, in lanes: fetch r of the tick goes to lane r mod L, each lane fetching
    its orders one after the other (one lane for a customer, six for an admin: sim.connections)."""
    orders = sorted(news)
    lanes = int(fetch_lanes(loop.ctx.population, np.array([client]))[0])
    for lane in range(min(lanes, len(orders))):
        env.process(_lane(env, loop, client, orders[lane::lanes], rtt, tally, board))


def _lane(
    env: simpy.Environment,
    loop: EventLoop,
    client: int,
    orders: list[int],
    rtt: float,
    tally: Tally,
    board: MessageBoard,
) -> Proc:
    for order in orders:
        yield from _since(env, loop, client, order, rtt, tally, board)


def _since(
    env: simpy.Environment,
    loop: EventLoop,
    client: int,
    order: int,
    rtt: float,
    tally: Tally,
    board: MessageBoard,
) -> Proc:
    wire = loop.ctx.calibration.bytes
    _activity(tally, client, env.now)
    yield env.timeout(rtt / 2.0)
    tally.requests += 1
    pairs = yield from loop.job("since", lambda: board.take(client, order))
    text = int(loop.ctx.pairs.size_bytes[pairs].sum()) if pairs else 0
    tally.bytes += (
        wire.request + wire.response_headers + wire.since_envelope + len(pairs) * wire.message_overhead + text
    )
    yield env.timeout(rtt / 2.0)
    deliver(tally, loop.ctx, pairs, env.now)


def _seed_tick(
    env: simpy.Environment, loop: EventLoop, client: int, rtt: float, tally: Tally, board: MessageBoard
) -> Proc:
    """Order list, then a full GET per order, one after the other (the seed's fetchMessageCounts loop)."""
    ctx, wire = loop.ctx, loop.ctx.calibration.bytes
    admin = client >= ctx.population.customers
    _activity(tally, client, env.now)
    yield env.timeout(rtt / 2.0)
    if env.now >= ctx.duration:
        return
    tally.requests += 1
    tally.polls += 1
    found = yield from loop.job("orders_200", lambda: board.take(client) if admin else [])
    tally.bytes += orders_get_bytes(wire, changed=True, orders=_listed(ctx, client))
    yield env.timeout(rtt / 2.0)
    deliver(tally, ctx, found, env.now)
    got = bool(found)
    if not admin:
        k = ctx.population.orders_per_customer
        for order in range(client * k, client * k + k):
            yield env.timeout(rtt / 2.0)
            tally.requests += 1
            pairs = yield from loop.job("full_messages", partial(board.take, client, order))
            tally.bytes += full_get_bytes(wire, ctx.conversation_bytes)
            yield env.timeout(rtt / 2.0)
            deliver(tally, ctx, pairs, env.now)
            got = got or bool(pairs)
    if not got:
        tally.empty_polls += 1


def adaptive_client(
    env: simpy.Environment,
    loop: EventLoop,
    spec: Adaptive,
    client: int,
    rtt: float,
    tally: Tally,
    board: MessageBoard,
    rng: np.random.Generator,
) -> Proc:
    """Polls whose interval follows Adaptive.next_interval / effective_interval, timed from poll to poll."""
    ctx = loop.ctx
    tabs = TabVisibility(rng, 1, ctx.scenario.hidden_fraction)
    at = float(rng.uniform(0.0, spec.min_s))
    interval = spec.min_s
    while at < ctx.duration:
        yield env.timeout(max(0.0, at - env.now))
        found = env.event()
        env.process(_adaptive_poll(env, loop, client, rtt, tally, board, found))
        got_news = yield found
        interval = spec.next_interval(interval, got_news=bool(got_news))
        hidden = float(tabs.hidden_for(np.array([at]), np.array([0]))[0])
        at += spec.effective_interval(interval, hidden_for_s=None if np.isnan(hidden) else hidden)


def _adaptive_poll(
    env: simpy.Environment,
    loop: EventLoop,
    client: int,
    rtt: float,
    tally: Tally,
    board: MessageBoard,
    found: simpy.Event,
) -> Proc:
    ctx, wire = loop.ctx, loop.ctx.calibration.bytes
    _activity(tally, client, env.now - rtt / 2.0)
    tally.requests += 1
    tally.polls += 1

    def look() -> list[int]:
        orders = board.news_orders(client)
        found.succeed(bool(orders))
        return orders

    news = yield from loop.job(lambda f: "orders_200" if f else "orders_304", look)
    tally.bytes += orders_get_bytes(wire, changed=bool(news), orders=_listed(ctx, client))
    if not news:
        tally.empty_polls += 1
        return
    yield env.timeout(rtt / 2.0)
    _fan_out(env, loop, client, news, rtt, tally, board)


def channels(ctx: RunContext, client: int) -> list[int]:
    """Long-poll channels of a client: one per order, or the admin's all-orders channel (-1)."""
    pop = ctx.population
    if client >= pop.customers:
        return [-1]
    k = pop.orders_per_customer
    return list(range(client * k, client * k + k))


def longpoll_channel(
    env: simpy.Environment,
    loop: EventLoop,
    spec: LongPoll,
    client: int,
    order: int,
    rtt: float,
    tally: Tally,
    board: MessageBoard,
    rng: np.random.Generator,
) -> Proc:
    """One parked request per channel: answered on news or after the timeout, re-issued at once."""
    ctx, wire = loop.ctx, loop.ctx.calibration.bytes
    deadline = float(rng.uniform(0.0, spec.timeout_s))  # parked since before the run began (steady state)
    parked_at = 0.0
    while True:
        woken = board.wait_for(client, order)
        if board.has_news(client, order) and not woken.triggered:
            # Committed while the registration queued for the loop: the server's handler would have seen
            # it (the check and the parking are one handler run), so it answers at once.
            board.watchers.pop((client, order), None)
            woken.succeed()
        outcome = yield woken | env.timeout(max(0.0, deadline - env.now))
        tally.stream_s += max(0.0, min(env.now, ctx.duration) - parked_at)
        if woken in outcome:
            pairs = yield from loop.job("longpoll_reply", lambda: board.take(client, order))
            _reply_bytes(tally, loop, pairs)
            yield env.timeout(rtt / 2.0)
            deliver(tally, ctx, pairs, env.now)
        else:
            if woken in board.watchers.values():
                board.watchers.pop((client, order), None)
            yield from loop.job("longpoll_timeout")
            tally.bytes += wire.longpoll_204
            tally.empty_polls += 1
            yield env.timeout(rtt / 2.0)
            _activity(tally, client, env.now)
        # the client re-issues at once; loop while the request finds news waiting
        while True:
            yield env.timeout(rtt / 2.0)
            if env.now >= ctx.duration:
                return
            tally.requests += 1
            tally.polls += 1
            tally.bytes += wire.request
            if not board.has_news(client, order):
                yield from loop.job("longpoll_register")
                parked_at, deadline = env.now, env.now + spec.timeout_s
                break
            pairs = yield from loop.job("longpoll_reply", lambda: board.take(client, order))
            _reply_bytes(tally, loop, pairs)
            yield env.timeout(rtt / 2.0)
            deliver(tally, ctx, pairs, env.now)


def _reply_bytes(tally: Tally, loop: EventLoop, pairs: list[int]) -> None:
    wire = loop.ctx.calibration.bytes
    text = int(loop.ctx.pairs.size_bytes[pairs].sum()) if pairs else 0
    tally.bytes += wire.response_headers + wire.since_envelope + len(pairs) * wire.message_overhead + text
