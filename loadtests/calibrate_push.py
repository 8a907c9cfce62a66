"""Push service times: one message fanned out to one open stream, a WebSocket ping, an SSE heartbeat.

*Per delivery*: K subscribers (SSE or WebSocket) hold one order open; messages are posted into it, each
delivered K times. The server's CPU from the first post until every subscriber has every message, less
the posts themselves (the POST figure, measured without subscribers), divided by posts x K.

*Ping*: K WebSockets send empty pings in waves, as the ``ws:PING`` clients do, and the server answers
each with a pong: CPU per pong.

*Heartbeat*: the server writes an SSE comment to each idle stream every ``--sse-heartbeat`` seconds. The
reference default is 15 s, far too rare to measure, so this runs only against a server calibration started
itself with a short heartbeat; CPU over a window divided by heartbeats the streams received.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

from loadtests.calibrate_http import Budget, Conn, Sample
from loadtests.calibrate_plan import Plan
from loadtests.calibrate_polls import fetch, order_cursors
from loadtests.calibrate_server import CalibrateError, CpuClock, Target
from loadtests.calibrate_streams import Opener, SseSubscriber, Subscriber, WsSubscriber, open_subscribers

__all__ = ["PushSettings", "measure_deliveries", "measure_heartbeat", "measure_ping"]

OPENERS: dict[str, Opener] = {"sse": SseSubscriber.open, "ws": WsSubscriber.open}


@dataclass(frozen=True, slots=True, kw_only=True)
class PushSettings:
    """How many subscribers the push measurements hold."""

    subscribers: int = 200
    """Connections subscribed to the measured order."""
    max_posts: int = 400
    """Most messages posted per kind (fewer once the CPU target is reached)."""
    heartbeat_streams: int = 400
    """Idle SSE streams whose heartbeats are counted."""


async def _until(check: Callable[[], bool], limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while not check():
        if time.monotonic() > deadline:
            raise CalibrateError(f"{what} did not happen within {limit_s:.0f} s")
        await asyncio.sleep(0.005)


def _more(cpu_s: float, started: float, budget: Budget) -> bool:
    """Whether a measurement should go on: CPU target not reached and wall-clock cap not passed."""
    return cpu_s < budget.cpu_s and time.monotonic() - started < budget.max_s


def _all_ponged(wss: list[WsSubscriber], waves: int) -> bool:
    return all(x.pongs >= waves for x in wss)


def _close(subs: list[Subscriber]) -> None:
    for sub in subs:
        sub.close()


async def _subscribe(
    kind: str, target: Target, plan: Plan, control: Conn, k: int
) -> tuple[list[Subscriber], str]:
    customer, order_id = plan.writer_orders[-1]
    cursor = (await order_cursors(control, plan))[order_id]
    subs = await open_subscribers(OPENERS[kind], target, plan, [(customer, order_id, cursor)] * k)
    return subs, order_id


async def measure_deliveries(
    kind: str, target: Target, plan: Plan, clock: CpuClock, post_s: float, budget: Budget, s: PushSettings
) -> Sample:
    """CPU per message delivered to one subscriber, for ``kind`` "sse" or "ws"."""
    control = await Conn.open(target.host, target.port)
    subs: list[Subscriber] = []
    try:
        subs, order_id = await _subscribe(kind, target, plan, control, s.subscribers)
        customer = plan.writer_orders[-1][0]
        started, cpu0 = time.monotonic(), await asyncio.to_thread(clock.quiet)
        posts = 0
        # The target counts deliveries only: the posts' own CPU is subtracted at the end.
        while posts < s.max_posts and (posts % 10 or _more(clock() - cpu0 - posts * post_s, started, budget)):
            await fetch(control, plan.post(customer, order_id), expect=201)
            posts += 1
        await _until(lambda: all(x.messages >= posts for x in subs), 30.0, f"{kind} delivery to every stream")
        cpu = await asyncio.to_thread(clock.quiet) - cpu0 - posts * post_s
        return Sample(kind=f"push_{kind}", count=posts * len(subs), cpu_s=max(cpu, 0.0),
                      wall_s=time.monotonic() - started)  # fmt: skip
    finally:
        _close(subs)
        control.close()


async def measure_ping(
    target: Target, plan: Plan, clock: CpuClock, budget: Budget, s: PushSettings
) -> tuple[Sample, float]:
    """CPU per WebSocket ping answered, and wire bytes per ping + pong."""
    control = await Conn.open(target.host, target.port)
    subs: list[Subscriber] = []
    try:
        subs, _order = await _subscribe("ws", target, plan, control, s.subscribers)
        wss = [x for x in subs if isinstance(x, WsSubscriber)]
        started, cpu0 = time.monotonic(), await asyncio.to_thread(clock.quiet)
        waves, sent, received0 = 0, 0, sum(x.received for x in wss)
        while _more(clock() - cpu0, started, budget):
            sent += sum(ws.ping() for ws in wss)
            waves += 1
            await _until(functools.partial(_all_ponged, wss, waves), 30.0, "pongs to every ping")
        cpu = await asyncio.to_thread(clock.quiet) - cpu0
        count = waves * len(wss)
        wire = (sent + sum(x.received for x in wss) - received0) / count if count else float("nan")
        return Sample(kind="ping", count=count, cpu_s=cpu, wall_s=time.monotonic() - started), wire
    finally:
        _close(subs)
        control.close()


async def measure_heartbeat(
    target: Target, plan: Plan, clock: CpuClock, budget: Budget, s: PushSettings
) -> tuple[Sample, float]:
    """CPU per SSE heartbeat, and wire bytes per heartbeat (needs a server with a short heartbeat)."""
    control = await Conn.open(target.host, target.port)
    subs: list[Subscriber] = []
    try:
        subs, _order = await _subscribe("sse", target, plan, control, s.heartbeat_streams)
        await _until(lambda: all(x.heartbeats > 0 for x in subs), 10.0, "a first heartbeat on every stream")
        beats0, bytes0 = sum(x.heartbeats for x in subs), sum(x.received for x in subs)
        started, cpu0 = time.monotonic(), clock()
        while _more(clock() - cpu0, started, budget):
            await asyncio.sleep(0.02)
        cpu = clock() - cpu0
        beats = sum(x.heartbeats for x in subs) - beats0
        wire = (sum(x.received for x in subs) - bytes0) / beats if beats else float("nan")
        return Sample(kind="heartbeat", count=beats, cpu_s=cpu, wall_s=time.monotonic() - started), wire
    finally:
        _close(subs)
        control.close()
