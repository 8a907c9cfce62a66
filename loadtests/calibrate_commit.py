"""Commit time: how long after its ``createdAt`` a message reaches a push subscriber on an idle server.

A POST's message is stamped ``createdAt`` when the writer thread starts its commit; the fan-out to SSE
and WebSocket subscribers starts once the commit (group commit and fsync) is done. So one SSE subscriber
holds an order, messages are posted into it one at a time, spaced so the server is idle in between, and
each one's receive time (this machine's wall clock, the server's too) less its ``createdAt`` is a push
latency. Their median, less the calibrated push service time, is the commit on the push path.

``createdAt`` has millisecond resolution and is truncated, so every latency reads up to 1 ms long (0.5 ms
on average): kept on purpose, because the load tests time deliveries from ``createdAt`` the same way.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import time
from dataclasses import dataclass

from loadtests.calibrate_http import Conn
from loadtests.calibrate_plan import Plan
from loadtests.calibrate_polls import fetch, order_cursors
from loadtests.calibrate_server import CalibrateError, Target
from loadtests.calibrate_streams import SseSubscriber

__all__ = ["CommitSettings", "measure_push_latency", "parse_created_ms"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitSettings:
    """How many messages are timed, and how far apart."""

    posts: int = 60
    """Messages posted, one at a time."""
    spacing_s: float = 0.02
    """Idle time after a message arrived before the next is posted."""
    max_s: float = 6.0
    """Stop posting after this long (a slow machine times fewer messages)."""


def parse_created_ms(created_at: str) -> float:
    """Unix milliseconds of a ``createdAt`` such as ``2026-11-26T10:00:00.123Z``."""
    stamp = datetime.datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    return stamp.timestamp() * 1000.0


async def _arrivals(reader: asyncio.StreamReader, out: asyncio.Queue[tuple[float, float]]) -> None:
    """(receive time ms, createdAt ms) of every message event on the stream."""
    while True:
        try:
            event = await reader.readuntil(b"\n\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        received = time.time() * 1000.0
        for line in event.split(b"\n"):
            if line.startswith(b"data: "):
                created = parse_created_ms(json.loads(line[6:])["createdAt"])
                out.put_nowait((received, created))


async def measure_push_latency(target: Target, plan: Plan, s: CommitSettings) -> list[float]:
    """Receive time less ``createdAt`` of each message posted one at a time, milliseconds."""
    customer, order_id = plan.writer_orders[0]
    control = await Conn.open(target.host, target.port)
    sub = None
    arrived: asyncio.Queue[tuple[float, float]] = asyncio.Queue()
    try:
        since = (await order_cursors(control, plan))[order_id]
        sub = await SseSubscriber.open(target, plan, customer, order_id, since)
        sub.task = asyncio.create_task(_arrivals(sub.conn.reader, arrived))
        latencies: list[float] = []
        stop_at = time.monotonic() + s.max_s
        while len(latencies) < s.posts and time.monotonic() < stop_at:
            await asyncio.sleep(s.spacing_s)
            await fetch(control, plan.post(customer, order_id), expect=201)
            try:
                received, created = await asyncio.wait_for(arrived.get(), 10.0)
            except TimeoutError:
                raise CalibrateError("a posted message did not reach its subscriber within 10 s") from None
            latencies.append(received - created)
        return latencies
    finally:
        if sub is not None:
            sub.close()
        control.close()
