"""``GET /api/stream``: Server-Sent Events. One stream carries every requested order: each message as
``id: <seq>`` / ``event: message`` / ``data: <json>``. A reconnecting EventSource sends ``Last-Event-ID`` and
gets what it missed replayed from the store before the stream goes live; a comment line every
``sse_heartbeat_s`` keeps idle proxies from cutting the connection.

The handler task itself waits on the subscription queue, so an idle stream costs one task and a small
queue. A client that stops reading is cut off when its queue fills (see ``pubsub.py``).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from reference_server.auth import Principal, request_principal
from reference_server.errors import ApiError
from reference_server.message import Message
from reference_server.overload import GATE
from reference_server.params import authorize_order, parse_since, reject_repeats
from reference_server.pubsub import Subscription, replay
from reference_server.state import STATE, ServerState

__all__ = ["stream", "watched_orders"]

ROUTE = "/api/stream"


def watched_orders(state: ServerState, principal: Principal, order_ids: list[str]) -> list[str] | None:
    """Checked order ids; none given means all the caller's orders (None: every order, for admins)."""
    if not order_ids:
        return None if principal.role == "admin" else state.book.visible(principal)
    for order_id in order_ids:
        authorize_order(state, principal, order_id)
    return list(dict.fromkeys(order_ids))


class _StreamSubscription(Subscription):
    """An SSE stream's subscription: falling too far behind drops the TCP connection."""

    __slots__ = ("_request",)

    def __init__(self, state: ServerState, request: web.Request) -> None:
        super().__init__(state.hub, maxsize=state.config.push_queue_max)
        self._request = request

    def on_overflow(self) -> None:
        self._request.app[GATE].dropped("sse")
        transport = self._request.transport
        if transport is not None:
            transport.abort()


def _resume_point(request: web.Request) -> int | None:
    since = parse_since(request.query.get("since"))
    header = request.headers.get("Last-Event-ID")
    if header is None or not header.strip():
        return since
    try:
        last = parse_since(header.strip())
    except ApiError:
        raise ApiError(400, "invalid_since", "'Last-Event-ID' must be a message seq.") from None
    return last if since is None or last is None else max(since, last)


def _event(seq: int, data: str) -> bytes:
    return f"id: {seq}\nevent: message\ndata: {data}\n\n".encode()


async def stream(request: web.Request) -> web.StreamResponse:
    """GET /api/stream?orderId=X[&orderId=Y...][&since=SEQ]"""
    state = request.app[STATE]
    gate = request.app[GATE]
    try:
        principal = request_principal(request, state.auth, allow_query=True)
        reject_repeats(request.query, repeatable=("orderId",))
        order_ids = watched_orders(state, principal, request.query.getall("orderId", []))
        since = _resume_point(request)
        gate.enter("sse")  # after validation: a client with a bad request learns that, not "retry later"
    except ApiError as exc:  # before the stream starts, errors are ordinary JSON responses
        return exc.response()
    # Nothing between here and the ``try`` can fail, so every admitted stream reaches the ``finally`` that
    # leaves the gate. (One function, not two: an extra coroutine frame per idle stream is memory.)
    sub = _StreamSubscription(state, request)
    state.hub.subscribe(sub, order_ids)  # before the replay, so nothing committed meanwhile is missed
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    gauge = state.metrics.open_connections.labels("sse")
    delivered = state.metrics.deliveries.labels("sse")
    try:
        await resp.prepare(request)
        state.streams.add(resp)
        gauge.inc()
        await resp.write(b": connected\n\n")
        floor = since or 0
        if since is not None and state.book.behind(order_ids, since):

            async def send(message: Message) -> None:
                payload = _event(message.seq, message.dumps())
                await resp.write(payload)
                state.metrics.count_bytes(ROUTE, len(payload))
                delivered.inc()

            floor = await replay(state.db(), order_ids, since, send)
        await _live(state, resp, sub, floor)
    except ConnectionResetError:
        pass  # the client left (or was cut off for not reading); it resumes with Last-Event-ID
    finally:
        sub.close()
        gate.leave()
        if resp in state.streams:
            state.streams.discard(resp)
            gauge.dec()
    return resp


async def _live(state: ServerState, resp: web.StreamResponse, sub: Subscription, floor: int) -> None:
    """Forward live messages newer than ``floor`` until the subscription ends; heartbeat when idle."""
    heartbeat = state.config.sse_heartbeat_s
    delivered = state.metrics.deliveries.labels("sse")
    while True:
        try:
            async with asyncio.timeout(heartbeat):
                push = await sub.get()
        except TimeoutError:
            await resp.write(b": heartbeat\n\n")
            continue
        if push is None:
            return
        if push.seq <= floor:  # already sent by the replay
            continue
        payload = _event(push.seq, push.data)
        await resp.write(payload)
        state.metrics.count_bytes(ROUTE, len(payload))
        delivered.inc()
