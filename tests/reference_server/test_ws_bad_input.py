"""Hand-written bad WebSocket input. Mistakes inside one command (non-JSON text, JSON of the wrong shape, an
unknown type, bad fields, orders the caller may not see) get an error frame and the connection stays usable;
a client speaking another protocol (binary frames), an oversized frame, invalid UTF-8 and a client stuck
sending garbage are closed with a code *and a reason*. After each case a fresh client still gets service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from reference_server.ws import MAX_BAD_FRAMES
from tests.reference_server.conftest import headers


@pytest.fixture
async def ws_client(client, users) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A connection for customer c1; after the test, a new connection must still subscribe and get a
    live message (the server is healthy)."""
    async with client.ws_connect("/ws", headers=headers(users.c1)) as ws:
        yield ws
    async with client.ws_connect("/ws", headers=headers(users.c1)) as fresh:
        await fresh.send_json({"type": "subscribe", "orderIds": ["o1"]})
        assert await fresh.receive_json(timeout=2) == {"type": "subscribed", "orderIds": ["o1"]}
        resp = await client.post(
            "/api/messages", json={"orderId": "o1", "content": "still here"}, headers=headers(users.a1)
        )
        assert resp.status == 201
        assert (await fresh.receive_json(timeout=2))["message"]["content"] == "still here"


async def expect_error_frame(ws: aiohttp.ClientWebSocketResponse, code: str) -> None:
    reply = await ws.receive_json(timeout=2)
    assert reply["type"] == "error" and reply["error"] == code, reply
    assert isinstance(reply["message"], str) and reply["message"]


async def expect_close(ws: aiohttp.ClientWebSocketResponse, code: int, reason_part: str) -> None:
    frame = await ws.receive(timeout=2)
    assert frame.type == aiohttp.WSMsgType.CLOSE, frame
    assert frame.data == code and reason_part in (frame.extra or ""), (frame.data, frame.extra)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "malformed_json"),
        ("{'single': 'quotes'}", "malformed_json"),
        ("[" * 30_000 + "]" * 30_000, "malformed_json"),  # deeper than the JSON parser's recursion limit
        ("[]", "bad_request"),
        ('"subscribe"', "bad_request"),
        ("42", "bad_request"),
        ("null", "bad_request"),
        ('{"orderIds": ["o1"]}', "bad_request"),
        ('{"type": "unsubscribe", "orderIds": ["o1"]}', "bad_request"),
        ('{"type": "subscribe"}', "invalid_field"),
        ('{"type": "subscribe", "orderIds": "o1"}', "invalid_field"),
        ('{"type": "subscribe", "orderIds": [1, 2]}', "invalid_field"),
        ('{"type": "subscribe", "orderIds": ["o1"], "since": -1}', "invalid_since"),
        ('{"type": "subscribe", "orderIds": ["o1"], "since": 1.5}', "invalid_since"),
        ('{"type": "subscribe", "orderIds": ["o1"], "since": "5"}', "invalid_since"),
        ('{"type": "subscribe", "orderIds": ["o1"], "since": true}', "invalid_since"),
        ('{"type": "subscribe", "orderIds": ["o1"], "since": 9223372036854775808}', "invalid_since"),
    ],
)
async def test_a_bad_command_gets_an_error_frame_and_the_connection_stays_usable(ws_client, frame, code):
    await ws_client.send_str(frame)
    await expect_error_frame(ws_client, code)
    await ws_client.send_json({"type": "subscribe", "orderIds": ["o1"]})
    assert await ws_client.receive_json(timeout=2) == {"type": "subscribed", "orderIds": ["o1"]}


async def test_another_customers_order_is_refused_and_never_delivered(client, users):
    async with client.ws_connect("/ws", params={"token": users.c2}) as ws:
        await ws.send_json({"type": "subscribe", "orderIds": ["o1", "o3"], "since": 0})
        await expect_error_frame(ws, "forbidden")
        assert await ws.receive_json(timeout=2) == {"type": "subscribed", "orderIds": ["o3"]}
        replayed = [await ws.receive_json(timeout=2) for _ in range(2)]  # o3's two seeded messages
        for content, order in [("secret", "o1"), ("mine", "o3")]:
            body = {"orderId": order, "content": content}
            assert (await client.post("/api/messages", json=body, headers=headers(users.a1))).status == 201
        live = await ws.receive_json(timeout=2)  # o1's message was posted first: it would arrive first
    assert {f["message"]["orderId"] for f in [*replayed, live]} == {"o3"}
    assert live["message"]["content"] == "mine"


async def test_unknown_order_is_refused_with_order_not_found(ws_client):
    await ws_client.send_json({"type": "subscribe", "orderIds": ["o999"]})
    await expect_error_frame(ws_client, "order_not_found")
    assert await ws_client.receive_json(timeout=2) == {"type": "subscribed", "orderIds": []}


async def test_binary_frame_is_closed_1003_with_a_reason(ws_client):
    await ws_client.send_bytes(b'{"type": "subscribe", "orderIds": ["o1"]}')
    await expect_close(ws_client, 1003, "JSON text frames only")


async def test_frame_over_64_kib_is_closed_1009_with_a_reason(ws_client):
    await ws_client.send_str('{"type": "subscribe", "orderIds": ["' + "x" * 70_000 + '"]}')
    await expect_close(ws_client, 1009, "64 KiB")


async def test_text_frame_with_invalid_utf8_is_closed_1007_with_a_reason(ws_client):
    await ws_client.send_frame(b'{"type": "\xff\xfe"}', aiohttp.WSMsgType.TEXT)
    await expect_close(ws_client, 1007, "UTF-8")


async def test_a_client_stuck_sending_garbage_is_closed_1008_with_a_reason(ws_client):
    for _ in range(MAX_BAD_FRAMES):
        await ws_client.send_str("garbage")
    for _ in range(MAX_BAD_FRAMES):
        await expect_error_frame(ws_client, "malformed_json")
    await expect_close(ws_client, 1008, "invalid frames")


async def test_refused_orders_do_not_count_as_bad_frames(ws_client):
    """Asking for an order one may not see is a normal answer, not a broken client."""
    for _ in range(MAX_BAD_FRAMES + 2):
        await ws_client.send_json({"type": "subscribe", "orderIds": ["o3"]})
        await expect_error_frame(ws_client, "forbidden")
        assert (await ws_client.receive_json(timeout=2))["type"] == "subscribed"
