"""``GET /ws``: WebSocket push. The client subscribes with
``{"type": "subscribe", "orderIds": [...], "since": SEQ}``; the server answers
``{"type": "subscribed", "orderIds": [...]}``, replays messages after ``since`` and then pushes
``{"type": "message", "message": {...}}`` as they are committed. Orders the caller may not see get
``{"type": "error", "error": "forbidden"|"order_not_found", ...}`` and are not subscribed. aiohttp's
heartbeat sends pings and drops peers that stop answering.

The handler task reads client frames. Outgoing live messages are written by a short-lived sender task that
exists only while there is something queued, so an idle subscribed connection holds no extra task.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from typing import Any

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web
from multidict import MultiDict

from reference_server.auth import request_principal
from reference_server.config import MAX_BODY_BYTES
from reference_server.errors import ApiError
from reference_server.message import Message
from reference_server.overload import GATE
from reference_server.params import MAX_SEQ, reject_repeats
from reference_server.pubsub import Subscription, replay
from reference_server.state import STATE, ServerState

__all__ = ["MAX_BAD_FRAMES", "websocket"]

ROUTE = "/ws"

MAX_BAD_FRAMES = 16
"""Invalid frames (malformed JSON, wrong shape, unknown type, bad fields) a connection may send, each
answered with an error frame, before it is closed with 1008: a client stuck in a loop of garbage would
otherwise keep the server parsing and answering forever."""

# Close reasons for the closes aiohttp performs itself (it sends them without one). At most 123 bytes.
_CLOSE_REASONS = {
    WSCloseCode.MESSAGE_TOO_BIG: f"frame larger than the {MAX_BODY_BYTES // 1024} KiB this server accepts",
    WSCloseCode.INVALID_TEXT: "text frame is not valid UTF-8",
    WSCloseCode.PROTOCOL_ERROR: "WebSocket protocol error",
    WSCloseCode.UNSUPPORTED_DATA: "this server accepts JSON text frames only",
}


class _Socket(web.WebSocketResponse):
    """aiohttp's WebSocket with a reason on every close it sends: aiohttp closes oversized frames (1009),
    invalid UTF-8 (1007) and protocol errors (1002) with an empty reason, which tells a client nothing."""

    async def close(self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True) -> bool:
        if not message and code in _CLOSE_REASONS:
            message = _CLOSE_REASONS[WSCloseCode(code)].encode()
        return await super().close(code=code, message=message, drain=drain)


class _Connection(Subscription):
    """One WebSocket: its subscription (it *is* one, to save an object per idle connection), replay floors
    and sender task."""

    __slots__ = ("bad_frames", "floor", "principal", "replaying", "request", "sender", "state", "ws")

    def __init__(self, state: ServerState, request: web.Request, ws: web.WebSocketResponse) -> None:
        super().__init__(state.hub, maxsize=state.config.push_queue_max)
        self.state = state
        self.request = request
        self.ws = ws
        self.principal = request_principal(request, state.auth, allow_query=True)
        self.floor: dict[str, int] | None = None  # per order: highest seq already sent by a replay
        self.replaying = False
        self.sender: asyncio.Task[None] | None = None
        self.bad_frames = 0

    async def send(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        await self.ws.send_str(text)
        self.state.metrics.count_bytes(ROUTE, len(text))

    async def on_frame(self, frame: WSMessage) -> bool:
        """Handle one client frame; False once the socket is closing."""
        if frame.type == WSMsgType.TEXT:
            await self.handle(frame.data)
            if self.bad_frames >= MAX_BAD_FRAMES:
                reason = f"{MAX_BAD_FRAMES} invalid frames; fix the client".encode()
                await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=reason)
                return False
        elif frame.type == WSMsgType.BINARY:
            # Not a mistake in one command but a client speaking another protocol: 1003 "unsupported data".
            await self.ws.close(code=WSCloseCode.UNSUPPORTED_DATA)
            return False
        elif frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return False  # ERROR: aiohttp already closed (1009 too big, 1007 bad UTF-8) with our reason
        return True

    async def handle(self, text: str) -> None:
        """One client frame."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            await self._bad_frame("malformed_json", "Frames must be JSON objects.")
            return
        if not isinstance(data, dict) or data.get("type") != "subscribe":
            usage = 'The only command is {"type": "subscribe", "orderIds": [...]}.'
            await self._bad_frame("bad_request", usage)
            return
        order_ids, since = data.get("orderIds"), data.get("since")
        if not isinstance(order_ids, list) or not all(isinstance(o, str) for o in order_ids):
            await self._bad_frame("invalid_field", "'orderIds' must be a list of order id strings.")
            return
        if since is not None and (
            not isinstance(since, int) or isinstance(since, bool) or not 0 <= since <= MAX_SEQ
        ):
            await self._bad_frame("invalid_since", "'since' must be an integer seq from 0 to 2**63 - 1.")
            return
        await self._subscribe(list(dict.fromkeys(order_ids)), since)

    async def _subscribe(self, order_ids: list[str], since: int | None) -> None:
        book = self.state.book
        allowed = []
        for order_id in order_ids:
            if order_id not in book.orders:
                await self._error("order_not_found", f"There is no order {order_id[:64]!r}.")
            elif not book.can_access(self.principal, order_id):
                await self._error("forbidden", f"Order {order_id[:64]!r} belongs to another customer.")
            else:
                allowed.append(order_id)
        self.replaying = True  # live messages wait in the queue until the replay is out
        try:
            self.state.hub.subscribe(self, allowed)
            await self.send({"type": "subscribed", "orderIds": allowed})
            if since is not None and allowed and self.state.book.behind(allowed, since):
                top = await replay(self.state.db(), allowed, since, self._send_replayed)
                floor = self.floor if self.floor is not None else {}
                for order_id in allowed:
                    floor[order_id] = max(floor.get(order_id, 0), top)
                self.floor = floor
        finally:
            self.replaying = False
        self._ensure_sender()

    async def _send_replayed(self, message: Message) -> None:
        await self.send({"type": "message", "message": message.to_json()})
        self.state.metrics.deliveries.labels("ws").inc()

    async def _error(self, code: str, message: str) -> None:
        await self.send({"type": "error", "error": code, "message": message})

    async def _bad_frame(self, code: str, message: str) -> None:
        """An error frame for a frame the client got wrong (counted towards ``MAX_BAD_FRAMES``)."""
        self.bad_frames += 1
        await self._error(code, message)

    def on_overflow(self) -> None:
        self.request.app[GATE].dropped("ws")
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    def on_ready(self) -> None:
        self._ensure_sender()

    def _ensure_sender(self) -> None:
        if self.replaying or self.pending() == 0 or (self.sender is not None and not self.sender.done()):
            return
        self.sender = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        delivered = self.state.metrics.deliveries.labels("ws")
        try:
            while (push := self.pop()) is not None:
                if self.floor is not None and push.seq <= self.floor.get(push.order_id, 0):
                    continue
                text = f'{{"type":"message","message":{push.data}}}'
                await self.ws.send_str(text)
                self.state.metrics.count_bytes(ROUTE, len(text))
                delivered.inc()
        except ConnectionResetError:
            self.close()

    async def finish(self) -> None:
        """The socket is gone: leave the hub and stop the sender."""
        self.close()
        if self.sender is not None and not self.sender.done():
            self.sender.cancel()
            try:
                await self.sender
            except asyncio.CancelledError:
                pass


async def websocket(request: web.Request) -> web.StreamResponse:
    """GET /ws (WebSocket upgrade); auth by bearer header or ``?token=``."""
    state = request.app[STATE]
    gate = request.app[GATE]
    ws = _Socket(heartbeat=state.config.ws_heartbeat_s, max_msg_size=MAX_BODY_BYTES)
    try:
        # Parsed transiently: request.query would keep the parsed query (token included) for the life of
        # the connection.
        reject_repeats(MultiDict(urllib.parse.parse_qsl(request.query_string, keep_blank_values=True)))
        conn = _Connection(state, request, ws)  # authenticates before the upgrade
        if not ws.can_prepare(request).ok:
            raise ApiError(400, "not_websocket", "This endpoint is a WebSocket; send a WebSocket upgrade.")
        gate.enter("ws")
    except ApiError as exc:
        return exc.response()  # a JSON 4xx/503 instead of the upgrade
    gauge = state.metrics.open_connections.labels("ws")
    try:
        await ws.prepare(request)
    except BaseException:  # the handshake failed after all: nothing was opened
        gate.leave()
        raise
    state.websockets.add(ws)
    gauge.inc()
    try:
        # receive() directly rather than ``async for``: the iterator's extra coroutine frame would sit in
        # memory for the whole life of every idle connection.
        # The frame is a temporary, not a local, so an idle connection does not keep its last message.
        while await conn.on_frame(await ws.receive()):
            pass
    except ConnectionResetError:
        pass
    finally:
        gate.leave()
        await conn.finish()
        state.websockets.discard(ws)
        gauge.dec()
        if not ws.closed:
            await ws.close(code=WSCloseCode.GOING_AWAY)
    return ws
