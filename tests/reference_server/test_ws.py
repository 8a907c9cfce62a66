"""reference_server.ws: the WebSocket subscribe protocol, replay then live push, errors."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.reference_server.conftest import headers


async def post(client, token: str, order: str, content: str) -> dict[str, Any]:
    resp = await client.post(
        "/api/messages", json={"orderId": order, "content": content}, headers=headers(token)
    )
    message: dict[str, Any] = (await resp.json())["message"]
    return message


async def test_subscribe_replays_then_pushes_live(client, users):
    async with client.ws_connect("/ws", headers=headers(users.c1)) as ws:
        await ws.send_json({"type": "subscribe", "orderIds": ["o1", "o2"], "since": 0})
        assert await ws.receive_json(timeout=2) == {"type": "subscribed", "orderIds": ["o1", "o2"]}
        replay = [await ws.receive_json(timeout=2) for _ in range(4)]
        assert all(f["type"] == "message" for f in replay)
        seqs = [f["message"]["seq"] for f in replay]
        assert seqs == sorted(seqs)
        live = await post(client, users.a1, "o2", "live")
        assert await ws.receive_json(timeout=2) == {"type": "message", "message": live}


async def test_replay_after_since_only(client, users):
    base = await post(client, users.a1, "o1", "old")
    newer = await post(client, users.a1, "o1", "new")
    async with client.ws_connect("/ws", params={"token": users.c1}) as ws:
        await ws.send_json({"type": "subscribe", "orderIds": ["o1"], "since": base["seq"]})
        await ws.receive_json(timeout=2)
        assert (await ws.receive_json(timeout=2))["message"] == newer


async def test_no_since_means_live_only(client, users):
    async with client.ws_connect("/ws", headers=headers(users.a1)) as ws:
        await ws.send_json({"type": "subscribe", "orderIds": ["o3"]})
        await ws.receive_json(timeout=2)
        live = await post(client, users.c2, "o3", "hello")
        assert (await ws.receive_json(timeout=2))["message"] == live


async def test_unknown_order_gets_error_and_is_not_subscribed(client, users):
    async with client.ws_connect("/ws", headers=headers(users.a1)) as ws:
        await ws.send_json({"type": "subscribe", "orderIds": ["nope"]})
        error = await ws.receive_json(timeout=2)
        assert error["type"] == "error" and error["error"] == "order_not_found" and error["message"]
        assert await ws.receive_json(timeout=2) == {"type": "subscribed", "orderIds": []}


async def test_malformed_frames_get_errors_and_keep_the_connection(client, users):
    async with client.ws_connect("/ws", headers=headers(users.c1)) as ws:
        for frame, code in [
            ("not json", "malformed_json"),
            ("[" * 30_000 + "]" * 30_000, "malformed_json"),  # deeper than the JSON parser's recursion limit
            ('{"type": "dance"}', "bad_request"),
            ('{"type": "subscribe", "orderIds": "o1"}', "invalid_field"),
            ('{"type": "subscribe", "orderIds": ["o1"], "since": -3}', "invalid_since"),
        ]:
            await ws.send_str(frame)
            reply = await ws.receive_json(timeout=2)
            assert (reply["type"], reply["error"]) == ("error", code)
        await ws.send_json({"type": "subscribe", "orderIds": ["o1"]})
        assert (await ws.receive_json(timeout=2))["type"] == "subscribed"


async def test_server_answers_pings(client, users):
    async with client.ws_connect("/ws", headers=headers(users.c1), autoping=False) as ws:
        await ws.ping(b"are you there")
        async with asyncio.timeout(2):
            frame = await ws.receive()
        assert frame.data == b"are you there"


async def test_resuming_at_the_cursor_replays_nothing_and_gets_live(client, users):
    cursor = (await (await client.get("/api/orders", headers=headers(users.c1))).json())["orders"][0][
        "cursor"
    ]
    async with client.ws_connect("/ws", headers=headers(users.c1)) as ws:
        await ws.send_json({"type": "subscribe", "orderIds": ["o1"], "since": cursor})
        await ws.receive_json(timeout=2)
        live = await post(client, users.a1, "o1", "fresh")
        assert (await ws.receive_json(timeout=2))["message"] == live
