"""Batches of identical requests, and what the server's CPU spent on them.

A batch keeps a few keep-alive connections busy with one request kind (each connection sends its next
request as soon as the previous answer is complete) until the server's process has spent a target amount of
CPU time, then divides that time by the requests answered: the mean service time of the kind. The client is
plain asyncio streams with pre-encoded requests, so it costs little next to the server, and it runs in this
process while the server runs in its own, so the client's work is never counted.

Connections are opened and warmed (one request each) before the clock is read, so TCP accepts and first-use
caches are not charged to the kind. A batch may hold more connections than it keeps requests in flight:
then every request goes out on the connection that has been idle longest, so the requests rotate over all
of them, as the requests of N pollers sharing a process do.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass

from loadtests.calibrate_server import TICK_S, CalibrateError
from loadtests.wire import request_head

__all__ = ["Batch", "Budget", "Conn", "OpenBatch", "Sample", "encode_request", "open_batch", "run_batch"]

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
    """Keep-alive connections the batch opens."""
    in_flight: int | None = None
    """Requests outstanding at once; None: one per connection. Fewer than ``connections``: each request
    is sent on the connection idle longest, so consecutive requests touch different connections, and
    connection i always sends ``requests[i % len(requests)]`` (one poller, one request)."""

    @property
    def rotating(self) -> bool:
        """Whether requests rotate over more connections than are in flight."""
        return self.in_flight is not None and self.in_flight < self.connections


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

    def resolution_share(self, resolution_s: float = TICK_S) -> float:
        """One step of the CPU clock (a 10 ms tick, or a nanosecond) as a share of the measured CPU time."""
        return resolution_s / self.cpu_s if self.cpu_s > 0 else float("inf")


class _Pacer:
    """What every connection of one batch shares: the request turn, the count, stop and error, and the
    connections waiting for their turn to send (when fewer requests than connections are in flight)."""

    def __init__(self, batch: Batch, cap: int | None = None) -> None:
        self.batch = batch
        self.cap = cap
        """Most requests to count: connections stop sending once this many were answered."""
        self.turn = itertools.count()
        self.measuring = False
        self.sending = False
        self.done = 0
        self.busy = 0
        self.error: CalibrateError | None = None
        self.idle = asyncio.Event()
        self.waiting: deque[_BatchProtocol] = deque()

    def next_request(self) -> bytes:
        requests = self.batch.requests
        return requests[next(self.turn) % len(requests)]

    def finished(self, status: int, head: bytes, conn: _BatchProtocol) -> _BatchProtocol | None:
        """Account for one response on ``conn``; the connection that sends the next request, if any."""
        if status != self.batch.expect and self.error is None:
            b = self.batch
            self.error = CalibrateError(f"{b.kind}: expected HTTP {b.expect}, got {status}: {head[:200]!r}")
        if self.measuring:
            self.done += 1
        if self.sending and self.error is None and (self.cap is None or self.done < self.cap):
            if not self.waiting:
                return conn
            self.waiting.append(conn)
            return self.waiting.popleft()
        self.busy -= 1
        if self.busy == 0:
            self.idle.set()
        return None


class _BatchProtocol(asyncio.Protocol):
    """One keep-alive connection sending its next request from the callback that completes the previous
    answer: no task switch per request, so the client stays far cheaper than the server."""

    def __init__(self, pacer: _Pacer) -> None:
        self.pacer = pacer
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.own: bytes | None = None
        """The request this connection always sends (rotating batches), or None: the pacer's turn."""

    def next_request(self) -> bytes:
        return self.own if self.own is not None else self.pacer.next_request()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = transport  # type: ignore[assignment]

    def send(self) -> None:
        assert self.transport is not None
        self.pacer.busy += 1
        self.pacer.idle.clear()
        self.transport.write(self.next_request())

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self._complete()) is not None:
            status, head = int(self.buf[9:12]), self.buf[:end]
            self.buf = self.buf[end:]
            nxt = self.pacer.finished(status, head, self)
            if nxt is not None:
                assert nxt.transport is not None
                nxt.transport.write(nxt.next_request())

    def _complete(self) -> int | None:
        """Length of the first complete response in the buffer, or None."""
        head_end = self.buf.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        head_end += 4
        if int(self.buf[9:12]) in _NO_BODY:
            return head_end
        match = _LENGTH.search(self.buf, 0, head_end)
        if match is None:
            raise CalibrateError(f"expected a Content-Length response: {self.buf[:200]!r}")
        end = head_end + int(match.group(1))
        return end if len(self.buf) >= end else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.pacer.busy and self.pacer.error is None:
            self.pacer.error = CalibrateError(f"the server closed a connection mid-batch ({exc})")
            self.pacer.idle.set()


async def _settle(pacer: _Pacer, limit_s: float) -> None:
    try:
        await asyncio.wait_for(pacer.idle.wait(), limit_s)
    except TimeoutError:
        raise CalibrateError(f"{pacer.batch.kind}: no answer within {limit_s:.0f} s") from None
    if pacer.error is not None:
        raise pacer.error


async def _watch(clock: Callable[[], float], cpu0: float, budget: Budget, pacer: _Pacer) -> None:
    deadline = time.monotonic() + budget.max_s
    while pacer.error is None:
        await asyncio.sleep(0.02)
        if clock() - cpu0 >= budget.cpu_s or pacer.done >= budget.max_requests:
            return
        if time.monotonic() >= deadline:
            return


async def _open(host: str, port: int, pacer: _Pacer, n: int) -> list[_BatchProtocol]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(100)

    async def one() -> _BatchProtocol:
        async with gate:
            try:
                _t, proto = await loop.create_connection(lambda: _BatchProtocol(pacer), host, port)
            except OSError as exc:
                raise CalibrateError(f"cannot connect to {host}:{port}: {exc}") from None
            return proto

    results = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
    opened = [r for r in results if isinstance(r, _BatchProtocol)]
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        for proto in opened:
            if proto.transport is not None:
                proto.transport.close()
        raise failed[0]
    return opened


class OpenBatch:
    """A batch's connections, open and warmed, measured as often as asked (:func:`open_batch`)."""

    def __init__(self, pacer: _Pacer, protocols: list[_BatchProtocol]) -> None:
        self._pacer = pacer
        self._protocols = protocols

    async def measure(self, clock: Callable[[], float], budget: Budget) -> Sample:
        """Keep ``batch.in_flight`` requests outstanding until ``budget`` is spent; the CPU they cost."""
        pacer, batch = self._pacer, self._pacer.batch
        pacer.cap, pacer.done = budget.max_requests, 0
        in_flight = batch.in_flight if batch.rotating and batch.in_flight else batch.connections
        pacer.waiting.clear()
        pacer.waiting.extend(self._protocols[in_flight:])
        started, cpu0 = time.monotonic(), clock()
        pacer.measuring = pacer.sending = True
        for proto in self._protocols[:in_flight]:
            proto.send()
        await _watch(clock, cpu0, budget, pacer)
        pacer.sending = False  # answers still in flight are counted: their CPU is in the reading
        await _settle(pacer, 30.0)
        pacer.measuring = False
        return Sample(
            kind=batch.kind, count=pacer.done, cpu_s=clock() - cpu0, wall_s=time.monotonic() - started
        )


@contextlib.asynccontextmanager
async def open_batch(host: str, port: int, batch: Batch) -> AsyncIterator[OpenBatch]:
    """Open ``batch.connections`` connections and warm each with one request (not counted)."""
    pacer = _Pacer(batch)
    protocols: list[_BatchProtocol] = []
    try:
        protocols = await _open(host, port, pacer, batch.connections)
        for i, proto in enumerate(protocols):
            if batch.rotating:
                proto.own = batch.requests[i % len(batch.requests)]
            proto.send()
        await _settle(pacer, 30.0)
        yield OpenBatch(pacer, protocols)
    finally:
        for proto in protocols:
            if proto.transport is not None:
                proto.transport.close()


async def run_batch(host: str, port: int, batch: Batch, clock: Callable[[], float], budget: Budget) -> Sample:
    """Keep ``batch.in_flight`` requests outstanding over ``batch.connections`` connections until
    ``budget`` is spent."""
    async with open_batch(host, port, batch) as opened:
        return await opened.measure(clock, budget)
