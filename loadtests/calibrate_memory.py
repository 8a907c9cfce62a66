"""Server memory per open push connection, from the resident memory of the server process.

The idle subscribers are the push measurement's own (:mod:`loadtests.calibrate_streams`: an EventSource
request, or a WebSocket with its ``subscribe``/``subscribed`` exchange, as the Locust users send them), run
in this process's event loop, so their memory is never the server's. The server's memory is read with the
server benchmark's :func:`~reference_server.bench_process.settled_rss`, once it holds still.

The crowds are *stacked*: the server's settled memory is read with no crowd, with an SSE crowd held, then
with a WebSocket crowd held on top of it. Nothing is freed between readings, so the second crowd cannot
look cheaper by reusing memory the first gave back (which a calibration against an already-running server
could not avoid by restarting it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from loadtests.calibrate_http import Conn
from loadtests.calibrate_plan import Plan
from loadtests.calibrate_polls import order_cursors
from loadtests.calibrate_server import Target
from loadtests.calibrate_streams import SseSubscriber, Subscriber, WsSubscriber, open_subscribers
from loadtests.fixtures import Customer
from reference_server.bench_process import settled_rss

__all__ = ["MemoryFigure", "MemorySettings", "measure_memory"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MemorySettings:
    """Crowd sizes and how long to wait for memory to settle."""

    connections: int = 500
    """Idle connections per crowd (one SSE crowd, one WebSocket crowd)."""
    settle_pause_s: float = 0.5
    """Pause before reading memory, so pending frees land."""
    settle_max_s: float = 5.0
    """Longest wait for memory to hold still."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryFigure:
    """Server memory growth for one crowd."""

    kind: str
    """"sse" or "ws"."""
    opened: int
    """Connections that completed their handshake."""
    rss_before: int
    """Settled server RSS before this crowd, bytes."""
    rss_held: int
    """Settled server RSS with this crowd held, bytes."""

    @property
    def per_connection(self) -> float:
        """RSS growth per opened connection, bytes."""
        return (self.rss_held - self.rss_before) / self.opened if self.opened else float("nan")


Pick = tuple[Customer, str, int]


async def _picks(target: Target, plan: Plan, count: int) -> list[Pick]:
    """Subscriber identities spread over the first writers' orders, each starting live at its cursor."""
    conn = await Conn.open(target.host, target.port)
    try:
        cursors = await order_cursors(conn, plan)
    finally:
        conn.close()
    spread = [(c, o, cursors[o]) for c in plan.writers[:10] for o in c.orders]
    return [spread[i % len(spread)] for i in range(count)]


@contextlib.asynccontextmanager
async def _crowd(kind: str, target: Target, plan: Plan, picks: list[Pick]) -> AsyncIterator[int]:
    """Hold one idle ``kind`` connection per pick; yields how many opened (all, or an error is raised)."""
    opener = SseSubscriber.open if kind == "sse" else WsSubscriber.open
    subs: list[Subscriber] = await open_subscribers(opener, target, plan, picks)
    try:
        yield len(subs)
    finally:
        for sub in subs:
            sub.close()


async def measure_memory(target: Target, plan: Plan, s: MemorySettings) -> list[MemoryFigure]:
    """RSS growth per idle SSE stream and per idle subscribed WebSocket."""
    picks = await _picks(target, plan, s.connections)

    async def rss() -> int:
        return await asyncio.to_thread(
            settled_rss, target.pid, pause_s=s.settle_pause_s, max_wait_s=s.settle_max_s
        )

    base = await rss()
    async with _crowd("sse", target, plan, picks) as sse_open:
        sse_held = await rss()
        async with _crowd("ws", target, plan, picks) as ws_open:
            ws_held = await rss()
    return [
        MemoryFigure(kind="sse", opened=sse_open, rss_before=base, rss_held=sse_held),
        MemoryFigure(kind="ws", opened=ws_open, rss_before=sse_held, rss_held=ws_held),
    ]
