"""Wire bytes of every exchange the simulator counts, measured with the load tests' byte-counting client.

Every figure is one real exchange on :class:`loadtests.wire.HttpConnection` (status line, headers, body and
chunk framing; TCP/IP headers not counted), split into the parts the simulator adds up. The split keeps
totals exact for the exchanges measured: a 200's extra headers (``Content-Type``, ``Content-Length``)
are counted with its body, so ``request + response_headers + full_messages_body`` is exactly the bytes of
one full poll.

Blocking code on purpose (it is the load tests' client); the orchestrator runs it in a thread.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from loadtests.calibrate_plan import Plan
from loadtests.calibrate_server import CalibrateError, Target
from loadtests.websocket import WebSocketClient
from loadtests.wire import HttpConnection, Response, StreamResponse

__all__ = ["measure_wire"]


def _get(conn: HttpConnection, plan: Plan, target: str, expect: int, **extra: str) -> Response:
    headers = {**plan.auth(plan.reader), **{k.replace("_", "-"): v for k, v in extra.items()}}
    resp = conn.request("GET", target, headers)
    if resp.status != expect:
        raise CalibrateError(f"GET {target} answered {resp.status}, expected {expect}: {resp.body[:200]!r}")
    return resp


def _post(conn: HttpConnection, plan: Plan) -> dict[str, object]:
    customer, order_id = plan.writer_orders[-1]
    body = json.dumps({"orderId": order_id, "content": "wire"}).encode()
    resp = conn.request(
        "POST", "/api/messages", {**plan.auth(customer), "Content-Type": "application/json"}, body
    )
    if resp.status != 201:
        raise CalibrateError(f"POST /api/messages answered {resp.status}: {resp.body[:200]!r}")
    message: dict[str, object] = json.loads(resp.body)["message"]
    return message


def _polls(conn: HttpConnection, plan: Plan) -> dict[str, int]:
    order = quote(plan.reader.orders[0])
    listed = _get(conn, plan, "/api/orders", 200)
    not_modified = _get(conn, plan, "/api/orders", 304, If_None_Match=listed.headers["etag"])
    headers = not_modified.received
    full = _get(conn, plan, f"/api/messages?orderId={order}", 200)
    messages = json.loads(full.body)["messages"]
    if len(messages) < 2:
        raise CalibrateError(
            f"order {order} needs 2 messages to measure a since-poll; it has {len(messages)}"
        )
    seqs = [int(m["seq"]) for m in messages]
    empty = _get(conn, plan, f"/api/messages?orderId={order}&since={seqs[-1]}", 200)
    one = _get(conn, plan, f"/api/messages?orderId={order}&since={seqs[-2]}", 200)
    text = len(str(messages[-1]["content"]).encode())
    wait = f"/api/messages/wait?orderId={order}&since={seqs[-1]}&timeout=0.01"
    return {
        "request": not_modified.sent,
        "response_headers": headers,
        "orders_list_body_per_order": round(
            (listed.received - headers) / len(json.loads(listed.body)["orders"])
        ),
        "full_messages_body": full.received - headers,
        "since_envelope": empty.received - headers,
        "message_overhead": one.received - empty.received - text,
        "longpoll_204": _get(conn, plan, wait, 204).received,
    }


def _sse(target: Target, plan: Plan, poster: HttpConnection) -> dict[str, int]:
    customer, order_id = plan.writer_orders[-1]
    conn = HttpConnection(target.host, target.port, timeout=10.0)
    try:
        target_path = f"/api/stream?orderId={quote(order_id)}&token={quote(customer.token)}"
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        stream = StreamResponse(conn, "GET", target_path, headers)
        chunks = stream.iter_data()
        next(chunks)  # ": connected"
        connect = conn.sent + conn.received
        before = conn.received
        message = _post(poster, plan)
        next(chunks)
        data = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
        return {"sse_connect": connect, "sse_event_overhead": conn.received - before - len(data)}
    finally:
        conn.close()


def _ws(target: Target, plan: Plan, poster: HttpConnection) -> dict[str, int]:
    customer, order_id = plan.writer_orders[-1]
    conn = HttpConnection(target.host, target.port, timeout=10.0)
    try:
        ws = WebSocketClient(conn)
        ws.handshake(f"/ws?token={quote(customer.token)}")
        ws.send_text(json.dumps({"type": "subscribe", "orderIds": [order_id]}))
        ws.receive()  # "subscribed"
        connect = conn.sent + conn.received
        message = _post(poster, plan)
        frame = ws.receive()
        data = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
        ws.close()
        return {"ws_connect": connect, "ws_frame_overhead": frame.wire_bytes - len(data)}
    finally:
        conn.close()


def measure_wire(target: Target, plan: Plan) -> dict[str, int]:
    """Bytes for every :class:`sim.calibration.WireBytes` field except the keepalives."""
    conn = HttpConnection(target.host, target.port, timeout=10.0)
    try:
        return {**_polls(conn, plan), **_sse(target, plan, conn), **_ws(target, plan, conn)}
    finally:
        conn.close()
