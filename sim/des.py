"""The detailed reference model: every request, wait and delivery as a SimPy event (small runs only).

Where the fast path lays requests out in bulk and adds parent waits afterwards (open loop), this model runs
the real closed loop: a `since` GET leaves only when its orders GET has answered, a tick's snapshot is taken
when its handler starts, a long-poll reply waits for the event loop like any request. It is the reference
the fast path is cross-checked against (tests/sim/test_des.py), and it runs what the fast path approximates
exactly. SimPy handles a few hundred thousand events per second, so keep runs small (``engine="auto"``
chooses it below :data:`sim.run.DES_MAX_REQUESTS` jobs).

Picture a post office with one clerk per server process (the event loop): clients queue at their clerk's
counter, the clerk serves them in arrival order, and answers travel back half a round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from pollbench.strategies import (
    Adaptive,
    LongPoll,
    Poll,
    SeedDashboard,
    ServerSentEvents,
    Strategy,
    WebSocket,
)
from sim.calibration import RequestKind
from sim.context import Progress, RunContext
from sim.server import ServiceModel
from sim.tally import Tally

__all__ = ["EventLoop", "MessageBoard", "run_des"]

Proc = Generator[simpy.Event, Any, Any]
DRAIN_S = 120.0
"""Seconds simulated after the run's end so answers to requests sent before it arrive."""


class EventLoop:
    """One server process: a FIFO single server with per-kind service times at the process's speed.

    A job that finds the clerk idle pays the cold-start penalty of the idle gap, exactly (the fast path
    computes the same as a fixed point, sim.server.FifoServer).
    """

    def __init__(
        self, env: simpy.Environment, ctx: RunContext, rng: np.random.Generator, service: ServiceModel
    ) -> None:
        self.env, self.ctx, self.rng, self.service = env, ctx, rng, service
        self.clerk = simpy.Resource(env, capacity=1)
        self.waits: list[float] = []
        self.services: list[float] = []
        self.free_at = 0.0
        """When the clerk finished its last job (the loop is idle at the start)."""
        self.penalty_s = 0.0
        """Cold-start penalties paid so far."""
        self.exposure_s2 = 0.0
        """Penalty integrated over the idle time so far (see sim.server.FifoServer.exposure_s2)."""

    def _cold_start(self, until: float) -> float:
        """Penalty of a job starting at `until` on an idle clerk; counts the idle spell's exposure (up to
        the run's end)."""
        cold, gap = self.ctx.calibration.cold_start, until - self.free_at
        if gap <= 0 or cold.max_ms <= 0:
            return 0.0
        inside = min(until, self.ctx.duration) - self.free_at
        if inside > 0:
            self.exposure_s2 += float(cold.exposure_s2(inside)) / self.service.quota
        return float(cold.penalty_s(gap)) / self.service.quota

    def close(self) -> None:
        """Count the idle spell from the last job to the run's end."""
        self._cold_start(self.ctx.duration)

    def job(
        self, kind: RequestKind | Callable[[Any], RequestKind], on_start: Callable[[], Any] | None = None
    ) -> Proc:
        """Queue, then hold the loop for one service time; returns on_start() taken at service start.

        `kind` may depend on that value (a 304 or a full answer depending on what the handler found).
        """
        arrived = self.env.now
        with self.clerk.request() as turn:
            yield turn
            value = on_start() if on_start else None
            chosen = kind(value) if callable(kind) else kind
            service = float(self.service.draw_kind(self.rng, chosen, 1)[0])
            penalty = self._cold_start(self.env.now)
            service += penalty
            self.free_at = self.env.now + service
            if arrived < self.ctx.duration:
                self.waits.append(self.env.now - arrived)
                self.services.append(service)
                self.penalty_s += penalty
            yield self.env.timeout(service)
        return value


class MessageBoard:
    """Committed messages not yet fetched, per client and order; wakes parked long-polls on commit."""

    def __init__(self, env: simpy.Environment, ctx: RunContext) -> None:
        self.env, self.ctx = env, ctx
        self.pending: dict[int, dict[int, list[int]]] = {}
        self.watchers: dict[tuple[int, int], simpy.Event] = {}
        self.listeners: dict[int, Callable[[int], None]] = {}

    def channel(self, client: int, order: int) -> tuple[int, int]:
        """Long-poll channel of a message: the customer's order, or the admin's all-orders channel (-1)."""
        return (client, -1) if client >= self.ctx.population.customers else (client, order)

    def committer(self) -> Proc:
        """Make every message visible once committed (``commit_ms`` after its createdAt); push it to
        listeners or keep it for polls, wake long-polls."""
        pairs = self.ctx.pairs
        delay = self.ctx.visible_delay_s
        for pair, t in enumerate((pairs.commit_s + delay).tolist()):
            if t > self.env.now:
                yield self.env.timeout(t - self.env.now)
            client, order = int(pairs.client[pair]), int(pairs.order[pair])
            listener = self.listeners.get(client)
            if listener:
                listener(pair)
                continue
            self.pending.setdefault(client, {}).setdefault(order, []).append(pair)
            watcher = self.watchers.pop(self.channel(client, order), None)
            if watcher is not None and not watcher.triggered:
                watcher.succeed()

    def take(self, client: int, order: int | None = None) -> list[int]:
        """Claim every pending message of a client (one order, or all when order is None or -1)."""
        mine = self.pending.get(client)
        if not mine:
            return []
        if order is not None and order >= 0:
            return mine.pop(order, [])
        taken = [p for v in mine.values() for p in v]
        mine.clear()
        return taken

    def news_orders(self, client: int) -> list[int]:
        """Orders of a client with pending messages."""
        return [o for o, v in self.pending.get(client, {}).items() if v]

    def has_news(self, client: int, order: int) -> bool:
        """Whether a long-poll channel has pending messages."""
        mine = self.pending.get(client, {})
        return any(mine.values()) if order < 0 else bool(mine.get(order))

    def wait_for(self, client: int, order: int) -> simpy.Event:
        """An event fired by the next commit on this long-poll channel."""
        ev = self.watchers.get((client, order))
        if ev is None or ev.triggered:
            ev = self.env.event()
            self.watchers[(client, order)] = ev
        return ev


def deliver(tally: Tally, ctx: RunContext, pairs: list[int], at: float) -> None:
    """Record that a client now holds these messages."""
    if not pairs:
        return
    idx = np.asarray(pairs, dtype=np.int64)
    tally.add_deliveries(
        commit_s=ctx.pairs.commit_s[idx],
        received_s=np.full(idx.size, at),
        client=ctx.pairs.client[idx],
        order=ctx.pairs.order[idx],
        seq=ctx.pairs.seq[idx],
    )


def _push_client(
    env: simpy.Environment,
    loop: EventLoop,
    spec: ServerSentEvents | WebSocket,
    client: int,
    rtt: float,
    tally: Tally,
    board: MessageBoard,
    phase: float,
) -> Proc:
    ctx = loop.ctx
    wire = ctx.calibration.bytes
    sse = isinstance(spec, ServerSentEvents)
    period = spec.heartbeat_s if isinstance(spec, ServerSentEvents) else spec.ping_s
    per_message = (wire.sse_event_overhead if sse else wire.ws_frame_overhead) + wire.message_overhead
    tally.extra["connects"] = int(tally.extra.get("connects", 0)) + 1  # one-off: not in requests/s
    tally.bytes += wire.sse_connect if sse else wire.ws_connect

    def pushed(pair: int) -> None:
        env.process(_push_one(env, loop, pair, rtt, tally, per_message))

    board.listeners[client] = pushed
    tally.stream_s += ctx.duration
    yield env.timeout(phase)
    while env.now < ctx.duration:
        env.process(loop.job("heartbeat" if sse else "ping"))
        tally.bytes += wire.sse_heartbeat if sse else wire.ws_ping
        tally.add_activity(np.array([client]), np.array([env.now + rtt / 2.0]))
        yield env.timeout(period)


def _push_one(
    env: simpy.Environment, loop: EventLoop, pair: int, rtt: float, tally: Tally, per_message: int
) -> Proc:
    yield from loop.job("push")
    yield env.timeout(rtt / 2.0)
    tally.bytes += per_message + int(loop.ctx.pairs.size_bytes[pair])
    deliver(tally, loop.ctx, [pair], env.now)


def run_des(strategy: Strategy, ctx: RunContext, tally: Tally, progress: Progress | None = None) -> None:
    """Simulate `strategy` event by event."""
    from sim import des_polling

    env = simpy.Environment()
    rng = ctx.rng("des", strategy.spec)
    loops = [
        EventLoop(env, ctx, ctx.rng("des", strategy.spec, s), ctx.process_service(strategy, s))
        for s in range(ctx.population.servers)
    ]
    board = MessageBoard(env, ctx)
    tally.sent += len(ctx.pairs)
    env.process(board.committer())
    pop = ctx.population
    for client in range(pop.clients):
        loop = loops[client % pop.servers]
        rtt = float(ctx.rtt_s[client])
        if isinstance(strategy, ServerSentEvents | WebSocket):
            period = strategy.heartbeat_s if isinstance(strategy, ServerSentEvents) else strategy.ping_s
            env.process(
                _push_client(env, loop, strategy, client, rtt, tally, board, float(rng.uniform(0, period)))
            )
        elif isinstance(strategy, Poll | SeedDashboard):
            env.process(des_polling.ticking_client(env, loop, strategy, client, rtt, tally, board, rng))
        elif isinstance(strategy, Adaptive):
            env.process(des_polling.adaptive_client(env, loop, strategy, client, rtt, tally, board, rng))
        elif isinstance(strategy, LongPoll):
            for order in des_polling.channels(ctx, client):
                env.process(
                    des_polling.longpoll_channel(env, loop, strategy, client, order, rtt, tally, board, rng)
                )
    steps = 20
    for i in range(1, steps + 1):
        env.run(until=(ctx.duration + DRAIN_S) * i / steps)
        if progress:
            progress(i / steps)
    for loop in loops:
        loop.close()
        tally.add_loop(scale=loop.service.scale, loop=loop)
        waits = np.asarray(loop.waits)
        tally.add_waits(waits, np.asarray(loop.services))
