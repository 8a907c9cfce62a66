"""Server memory per open connection, from the resident memory of the server process, and what the idle
server holds: its memory, its descriptors and their limit.

Three idle crowds are measured: keep-alive HTTP connections that have each made one request (a poller
between two polls: a customer's 304 poll, round-robin over the customers), SSE streams and subscribed
WebSockets. The push subscribers are the push measurement's own (:mod:`loadtests.calibrate_streams`: an
EventSource request, or a WebSocket with its ``subscribe``/``subscribed`` exchange, as the Locust users
send them). Every crowd runs in this process's event loop, so its memory is never the server's. The
server's memory is read with the server benchmark's :func:`~reference_server.bench_process.settled_rss`,
once it holds still.

The crowds are *stacked*: the server's settled memory is read with no crowd, with the keep-alive crowd
held, with an SSE crowd on top, then with a WebSocket crowd on top of both. Nothing is freed between
readings, so a later crowd cannot look cheaper by reusing memory an earlier one gave back (which a
calibration against an already-running server could not avoid by restarting it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from loadtests.calibrate_http import Batch, Conn, open_batch
from loadtests.calibrate_plan import Plan
from loadtests.calibrate_polls import not_modified_polls, order_cursors
from loadtests.calibrate_server import CpuClock, Target, open_file_limit, open_files
from loadtests.calibrate_streams import SseSubscriber, Subscriber, WsSubscriber, open_subscribers
from loadtests.fixtures import Customer
from reference_server.bench_process import settled_rss

__all__ = ["IdleServer", "MemoryFigure", "MemorySettings", "measure_idle", "measure_memory"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MemorySettings:
    """Crowd sizes and how long to wait for memory to settle."""

    connections: int = 500
    """Idle connections per push crowd (one SSE crowd, one WebSocket crowd)."""
    keepalive: int = 1000
    """Idle keep-alive HTTP connections in the keep-alive crowd."""
    idle_window_s: float = 0.5
    """How long the server's CPU is read while it holds nothing, and while it holds the keep-alive crowd."""
    settle_pause_s: float = 0.5
    """Pause before reading memory, so pending frees land."""
    settle_max_s: float = 5.0
    """Longest wait for memory to hold still."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryFigure:
    """Server memory growth for one crowd."""

    kind: str
    """"keepalive", "sse" or "ws"."""
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


@dataclass(frozen=True, slots=True, kw_only=True)
class IdleServer:
    """The server process with nothing to do."""

    rss_bytes: int
    """Settled resident memory, bytes."""
    fd_limit: int | None
    """Its soft RLIMIT_NOFILE (None: unlimited or unreadable)."""
    fds: int | None
    """Descriptors it holds (None: unreadable)."""
    cpu_per_s: float
    """CPU seconds it spends per second (timers and housekeeping; ~0)."""


async def _idle_cpu_per_s(clock: CpuClock, window_s: float) -> float:
    cpu0, t0 = clock(), time.monotonic()
    await asyncio.sleep(window_s)
    return (clock() - cpu0) / (time.monotonic() - t0)


async def measure_idle(target: Target, clock: CpuClock, s: MemorySettings) -> IdleServer:
    """Memory, descriptors and CPU of the server as it is now (call it before any load)."""
    rss = await asyncio.to_thread(
        settled_rss, target.pid, pause_s=s.settle_pause_s, max_wait_s=s.settle_max_s
    )
    return IdleServer(rss_bytes=rss, fd_limit=open_file_limit(target.pid), fds=open_files(target.pid),
                      cpu_per_s=await _idle_cpu_per_s(clock, s.idle_window_s))  # fmt: skip


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


async def measure_memory(
    target: Target, plan: Plan, clock: CpuClock, s: MemorySettings
) -> tuple[list[MemoryFigure], float]:
    """RSS growth per idle keep-alive connection, per idle SSE stream and per idle subscribed WebSocket;
    and the CPU per second the server spends holding the keep-alive crowd."""
    picks = await _picks(target, plan, s.connections)
    customers = [c for c in target.fixtures.customers if c.orders]
    polls = await not_modified_polls(target, customers, plan)
    keepalive = Batch(kind="keepalive", requests=polls, expect=304, connections=s.keepalive, in_flight=1)

    async def rss() -> int:
        return await asyncio.to_thread(
            settled_rss, target.pid, pause_s=s.settle_pause_s, max_wait_s=s.settle_max_s
        )

    base = await rss()
    async with open_batch(target.host, target.port, keepalive):  # each connection made one request
        keepalive_held = await rss()
        idle_cpu = await _idle_cpu_per_s(clock, s.idle_window_s)
        async with _crowd("sse", target, plan, picks) as sse_open:
            sse_held = await rss()
            async with _crowd("ws", target, plan, picks) as ws_open:
                ws_held = await rss()
    figures = [
        MemoryFigure(kind="keepalive", opened=s.keepalive, rss_before=base, rss_held=keepalive_held),
        MemoryFigure(kind="sse", opened=sse_open, rss_before=keepalive_held, rss_held=sse_held),
        MemoryFigure(kind="ws", opened=ws_open, rss_before=sse_held, rss_held=ws_held),
    ]
    return figures, idle_cpu
