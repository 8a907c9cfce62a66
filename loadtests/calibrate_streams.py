"""Push subscribers for calibration: Server-Sent Events streams and WebSockets that count what they get.

Each subscriber connects the way the Locust users do (same request, same headers), then a reader task
counts message events, heartbeat comments, pongs and received bytes, nothing more: the point is to keep
the server busy pushing while this process stays cheap.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from loadtests.calibrate_http import Conn, encode_request
from loadtests.calibrate_plan import Plan
from loadtests.calibrate_server import CalibrateError, Target
from loadtests.fixtures import Customer
from loadtests.websocket import OP_PING, OP_PONG, OP_TEXT, encode_frame

__all__ = ["SseSubscriber", "Subscriber", "WsSubscriber", "open_subscribers"]

_EVENT = b"event: message"
_HEARTBEAT = b": heartbeat"


def _count_new(data: bytes, marker: bytes, seen: int) -> int:
    """Occurrences of ``marker`` in ``data`` that end past its first ``seen`` bytes."""
    count, at = 0, data.find(marker)
    while at >= 0:
        count += at + len(marker) > seen
        at = data.find(marker, at + 1)
    return count


class Subscriber:
    """One open push connection and its counters."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.messages = 0
        self.heartbeats = 0
        self.pongs = 0
        self.received = 0
        self.connect_bytes = 0
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.conn.close()


class SseSubscriber(Subscriber):
    """An EventSource on one order."""

    @classmethod
    async def open(
        cls, target: Target, plan: Plan, customer: Customer, order_id: str, since: int
    ) -> Subscriber:
        conn = await Conn.open(target.host, target.port)
        request = plan.stream(customer, order_id, since)
        conn.writer.write(request)
        status, head = await conn.read_head()
        if status != 200:
            conn.close()
            raise CalibrateError(f"GET /api/stream answered {status}")
        sub = cls(conn)
        sub.connect_bytes = len(request) + len(head)
        return sub

    async def _read(self) -> None:
        # The end of the previous read is kept so a marker split across two reads is still found;
        # markers lying wholly inside that kept tail were counted last time.
        tail = b""
        reader = self.conn.reader
        while chunk := await reader.read(65536):
            self.received += len(chunk)
            data = tail + chunk
            self.messages += _count_new(data, _EVENT, len(tail))
            self.heartbeats += _count_new(data, _HEARTBEAT, len(tail))
            tail = data[-(len(_EVENT) - 1) :]


class WsSubscriber(Subscriber):
    """A WebSocket subscribed to one order."""

    @classmethod
    async def open(
        cls, target: Target, plan: Plan, customer: Customer, order_id: str, since: int
    ) -> Subscriber:
        conn = await Conn.open(target.host, target.port)
        headers = {
            "Upgrade": "websocket", "Connection": "Upgrade",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(), "Sec-WebSocket-Version": "13",
        }  # fmt: skip
        request = encode_request("GET", f"/ws?token={quote(customer.token)}", plan.host_header, headers)
        conn.writer.write(request)
        status, head = await conn.read_head()
        if status != 101:
            conn.close()
            raise CalibrateError(f"GET /ws answered {status} instead of upgrading")
        sub = cls(conn)
        subscribe = json.dumps({"type": "subscribe", "orderIds": [order_id], "since": since}).encode()
        frame = encode_frame(OP_TEXT, subscribe, mask_key=os.urandom(4))
        conn.writer.write(frame)
        _op, reply, size = await sub.read_frame()
        if json.loads(reply).get("type") != "subscribed":
            conn.close()
            raise CalibrateError(f"WebSocket subscribe refused: {reply[:200]!r}")
        sub.connect_bytes = len(request) + len(head) + len(frame) + size
        return sub

    async def read_frame(self) -> tuple[int, bytes, int]:
        """Opcode, payload and wire size of the next (unmasked, unfragmented) server frame."""
        reader = self.conn.reader
        b0, b1 = await reader.readexactly(2)
        n, size = b1 & 0x7F, 2
        if n == 126:
            n, size = struct.unpack("!H", await reader.readexactly(2))[0], 4
        elif n == 127:
            n, size = struct.unpack("!Q", await reader.readexactly(8))[0], 10
        payload = await reader.readexactly(n) if n else b""
        return b0 & 0x0F, payload, size + n

    def ping(self) -> int:
        """Send one empty masked ping, as the Locust user's keepalive does; its wire size."""
        frame = encode_frame(OP_PING, b"", mask_key=os.urandom(4))
        self.conn.writer.write(frame)
        return len(frame)

    async def _read(self) -> None:
        while True:
            op, payload, size = await self.read_frame()
            self.received += size
            if op == OP_TEXT and payload.startswith(b'{"type":"message"'):
                self.messages += 1
            elif op == OP_PONG:
                self.pongs += 1
            elif op == OP_PING:  # the server's own heartbeat: answer it like a browser
                self.conn.writer.write(encode_frame(OP_PONG, payload, mask_key=os.urandom(4)))


Opener = Callable[[Target, Plan, Customer, str, int], Awaitable[Subscriber]]


async def open_subscribers(
    opener: Opener, target: Target, plan: Plan, picks: list[tuple[Customer, str, int]]
) -> list[Subscriber]:
    """Open one subscriber per (customer, order, since), 100 handshakes at a time; readers started."""
    gate = asyncio.Semaphore(100)

    async def one(customer: Customer, order_id: str, since: int) -> Subscriber:
        async with gate:
            return await opener(target, plan, customer, order_id, since)

    results = await asyncio.gather(*(one(*p) for p in picks), return_exceptions=True)
    subs = [r for r in results if isinstance(r, Subscriber)]
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        for sub in subs:
            sub.close()
        raise CalibrateError(f"{len(errors)} of {len(picks)} push connections failed: {errors[0]}")
    for sub in subs:
        sub.start()
    return subs
