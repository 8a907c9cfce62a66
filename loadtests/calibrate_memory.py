"""Server memory per open push connection, from the resident memory of the server process.

Reuses the server benchmark's pieces: the subscriber openers of :mod:`reference_server.bench_push` (an
EventSource request, or a WebSocket plus its ``subscribe``/``subscribed`` exchange), run here in this
process's event loop (the client's memory is this process's, never the server's), and
:func:`~reference_server.bench_process.settled_rss` to read the server's memory once it holds still.

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

import aiohttp

from loadtests.calibrate_http import Conn
from loadtests.calibrate_plan import Plan
from loadtests.calibrate_polls import order_cursors
from loadtests.calibrate_server import CalibrateError, Target
from reference_server.bench_process import settled_rss
from reference_server.bench_push import OPENERS, PushTarget

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


async def _targets(target: Target, plan: Plan) -> list[PushTarget]:
    """Subscriber identities on the first writers' orders, starting live at each order's cursor."""
    conn = await Conn.open(target.host, target.port)
    try:
        cursors = await order_cursors(conn, plan)
    finally:
        conn.close()
    return [
        PushTarget(token=c.token, order_id=o, since=cursors[o]) for c in plan.writers[:10] for o in c.orders
    ]


@contextlib.asynccontextmanager
async def _crowd(
    kind: str, session: aiohttp.ClientSession, target: Target, picks: list[PushTarget], count: int
) -> AsyncIterator[int]:
    """Hold ``count`` idle ``kind`` connections (100 handshakes at a time); yields how many opened."""
    opener, gate = OPENERS[kind], asyncio.Semaphore(100)

    async def one(pick: PushTarget) -> asyncio.Task[None]:
        async with gate:
            drain = await opener(session, target.base_url, pick, 15.0)
        return asyncio.create_task(drain)

    results = await asyncio.gather(
        *(one(picks[i % len(picks)]) for i in range(count)), return_exceptions=True
    )
    drains = [r for r in results if isinstance(r, asyncio.Task)]
    try:
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise CalibrateError(f"{len(failed)} of {count} idle {kind} connections failed: {failed[0]}")
        yield len(drains)
    finally:
        for task in drains:
            task.cancel()
        await asyncio.gather(*drains, return_exceptions=True)


async def measure_memory(target: Target, plan: Plan, s: MemorySettings) -> list[MemoryFigure]:
    """RSS growth per idle SSE stream and per idle subscribed WebSocket."""
    picks = await _targets(target, plan)

    async def rss() -> int:
        return await asyncio.to_thread(
            settled_rss, target.pid, pause_s=s.settle_pause_s, max_wait_s=s.settle_max_s
        )

    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        base = await rss()
        async with _crowd("sse", session, target, picks, s.connections) as sse_open:
            sse_held = await rss()
            async with _crowd("ws", session, target, picks, s.connections) as ws_open:
                ws_held = await rss()
    return [
        MemoryFigure(kind="sse", opened=sse_open, rss_before=base, rss_held=sse_held),
        MemoryFigure(kind="ws", opened=ws_open, rss_before=sse_held, rss_held=ws_held),
    ]
