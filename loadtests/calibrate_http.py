"""Batches of identical requests, and what the server's CPU spent on them.

A batch keeps a few keep-alive connections busy with one request kind (each connection sends its next
request as soon as the previous answer is complete) until the server's process has spent a target amount of
CPU time, then divides that time by the requests answered: the mean service time of the kind. The client is
plain asyncio streams with pre-encoded requests, so it costs little next to the server, and it runs in this
process while the server runs in its own, so the client's work is never counted.

Connections are opened and warmed (one request each) before the clock is read, so TCP accepts and first-use
caches are not charged to the kind.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from loadtests.calibrate_server import TICK_S, CalibrateError
from loadtests.wire import request_head

__all__ = ["Batch", "Budget", "Conn", "Sample", "encode_request", "run_batch"]

_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:\s*chunked", re.IGNORECASE)
_NO_BODY = (204, 304)


def encode_request(
    method: str, target: str, host_header: str, headers: Mapping[str, str], body: bytes | None = None
) -> bytes:
    """One request exactly as :mod:`loadtests.wire` would send it (same header layout, same size)."""
    head = request_head(method, target, host_header, headers, None if body is None else len(body))
    return head + body if body else head


class Conn:
    """One keep-alive HTTP/1.1 connection that sends a request and reads its whole answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Conn:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10.0)
        except (OSError, TimeoutError) as exc:
            raise CalibrateError(f"cannot connect to {host}:{port}: {exc}") from None
        return cls(reader, writer)

    async def read_head(self) -> tuple[int, bytes]:
        """Status and raw head (status line and headers, ending CRLF CRLF) of the next response."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as exc:
            raise CalibrateError(f"the server closed the connection or sent garbage ({exc})") from None
        return int(head[9:12]), head

    async def read_response(self) -> tuple[int, bytes, bytes]:
        """Status, head and body of the next response."""
        status, head = await self.read_head()
        if status in _NO_BODY:
            return status, head, b""
        match = _LENGTH.search(head)
        if match is None:
            kind = "chunked" if _CHUNKED.search(head) else "unframed"
            raise CalibrateError(f"expected a Content-Length response, got a {kind} one: {head[:200]!r}")
        try:
            body = await self.reader.readexactly(int(match.group(1)))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise CalibrateError(f"the server closed the connection mid-body ({exc})") from None
        return status, head, body

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send one request, return the status and body of its answer."""
        self.writer.write(request)
        status, _head, body = await self.read_response()
        return status, body

    def close(self) -> None:
        self.writer.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """How long a measurement runs: until the CPU target, or a cap, whichever comes first."""

    cpu_s: float
    """Server CPU seconds to accumulate (0.5 s makes one 10 ms tick 2 % of the figure)."""
    max_requests: int = 200_000
    """Stop after this many requests even if the CPU target is not reached."""
    max_s: float = 8.0
    """Stop after this many wall-clock seconds even if the CPU target is not reached."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """One request kind: the requests to cycle through and the status each must get."""

    kind: str
    """Name of what is measured (a key of the calibration's service times, or ``noop``)."""
    requests: Sequence[bytes]
    """Encoded requests, sent in turn (one, for identical requests)."""
    expect: int
    """Status every answer must have."""
    connections: int = 8
    """Keep-alive connections kept busy at once."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    """Server CPU spent on some number of units of one kind (requests, deliveries, heartbeats)."""

    kind: str
    """What was measured."""
    count: int
    """Units the CPU time is divided by."""
    cpu_s: float
    """Server CPU seconds charged to them."""
    wall_s: float
    """Wall-clock seconds the measurement took."""

    @property
    def per_unit_s(self) -> float:
        """Mean server CPU per unit, seconds."""
        return self.cpu_s / self.count if self.count else float("nan")

    @property
    def tick_share(self) -> float:
        """One accounting tick as a share of the measured CPU time (the reading's resolution)."""
        return TICK_S / self.cpu_s if self.cpu_s > 0 else float("inf")


async def _worker(
    conn: Conn, batch: Batch, order: Callable[[], int], stop: asyncio.Event, done: list[int]
) -> None:
    requests = batch.requests
    while not stop.is_set():
        status, body = await conn.exchange(requests[order() % len(requests)])
        if status != batch.expect:
            raise CalibrateError(f"{batch.kind}: expected HTTP {batch.expect}, got {status}: {body[:200]!r}")
        done[0] += 1


async def _watch(clock: Callable[[], float], start: float, budget: Budget, stop: asyncio.Event,
                 done: list[int]) -> None:  # fmt: skip
    deadline = time.monotonic() + budget.max_s
    while not stop.is_set():
        await asyncio.sleep(0.02)
        spent = clock() - start
        if spent >= budget.cpu_s or done[0] >= budget.max_requests or time.monotonic() >= deadline:
            stop.set()


async def run_batch(host: str, port: int, batch: Batch, clock: Callable[[], float], budget: Budget) -> Sample:
    """Keep ``batch.connections`` connections busy with ``batch`` until ``budget`` is spent."""
    conns = [await Conn.open(host, port) for _ in range(batch.connections)]
    try:
        counter = itertools.count()
        order = counter.__next__
        for conn in conns:  # warm-up, not counted
            status, body = await conn.exchange(batch.requests[order() % len(batch.requests)])
            if status != batch.expect:
                raise CalibrateError(
                    f"{batch.kind}: expected HTTP {batch.expect}, got {status}: {body[:200]!r}"
                )
        stop, done = asyncio.Event(), [0]
        started, cpu0 = time.monotonic(), clock()
        tasks = [asyncio.create_task(_worker(c, batch, order, stop, done)) for c in conns]
        watcher = asyncio.create_task(_watch(clock, cpu0, budget, stop, done))
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            stop.set()
            await watcher
        return Sample(kind=batch.kind, count=done[0], cpu_s=clock() - cpu0, wall_s=time.monotonic() - started)
    finally:
        for conn in conns:
            conn.close()
