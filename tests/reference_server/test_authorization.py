"""Customers reach only their own orders, over every channel; admins reach all."""

from __future__ import annotations

import json

import aiohttp

from tests.reference_server.conftest import headers, read_sse_events


async def test_customer_cannot_read_another_customers_order(client, users):
    resp = await client.get("/api/messages", params={"orderId": "o3"}, headers=headers(users.c1))
    assert resp.status == 403 and (await resp.json())["error"] == "forbidden"


async def test_customer_cannot_post_to_another_customers_order(client, users):
    resp = await client.post(
        "/api/messages", json={"orderId": "o3", "content": "x"}, headers=headers(users.c1)
    )
    assert resp.status == 403
    owner = await (
        await client.get("/api/messages", params={"orderId": "o3"}, headers=headers(users.c2))
    ).json()
    assert all(m["content"] != "x" for m in owner["messages"])


async def test_customer_cannot_mark_another_customers_order_read(client, users):
    resp = await client.put("/api/messages", json={"orderId": "o3"}, headers=headers(users.c1))
    assert resp.status == 403
    owner = await (
        await client.get("/api/messages", params={"orderId": "o3"}, headers=headers(users.c2))
    ).json()
    assert owner["unread"] == 1


async def test_customer_cannot_long_poll_another_customers_order(client, users):
    resp = await client.get(
        "/api/messages/wait",
        params={"orderId": "o3", "since": "0", "timeout": "0.1"},
        headers=headers(users.c1),
    )
    assert resp.status == 403


async def test_customer_cannot_stream_another_customers_order(client, users):
    resp = await client.get("/api/stream", params=[("orderId", "o1"), ("orderId", "o3"), ("token", users.c1)])
    assert resp.status == 403
    assert resp.content_type == "application/json"


async def test_customer_cannot_subscribe_to_another_customers_order(client, users):
    async with client.ws_connect("/ws", headers=headers(users.c1)) as ws:
        await ws.send_json({"type": "subscribe", "orderIds": ["o1", "o3"], "since": 0})
        frames = [await ws.receive_json(timeout=2) for _ in range(2)]
        assert {"type": "error", "error": "forbidden"}.items() <= frames[0].items()
        assert frames[1] == {"type": "subscribed", "orderIds": ["o1"]}
        replayed = [await ws.receive_json(timeout=2) for _ in range(2)]
        assert {m["message"]["orderId"] for m in replayed} == {"o1"}
        # A message in the forbidden order is not pushed; one in the allowed order is.
        await client.post(
            "/api/messages", json={"orderId": "o3", "content": "secret"}, headers=headers(users.a1)
        )
        await client.post(
            "/api/messages", json={"orderId": "o1", "content": "public"}, headers=headers(users.a1)
        )
        pushed = await ws.receive_json(timeout=2)
        assert pushed["message"]["content"] == "public"


async def test_customer_stream_without_order_ids_covers_only_own_orders(client, users):
    async with client.get("/api/stream", params={"token": users.c1, "since": "0"}) as resp:
        assert resp.status == 200
        events = await read_sse_events(resp, 4)  # two seeded messages in each of o1, o2
        assert {json.loads(e["data"])["orderId"] for e in events} == {"o1", "o2"}


async def test_websocket_without_token_is_refused(client):
    try:
        await client.ws_connect("/ws")
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 401
    else:
        raise AssertionError("handshake should fail")


async def test_admin_reaches_every_order(client, users):
    for order in ("o1", "o2", "o3", "o4"):
        resp = await client.get("/api/messages", params={"orderId": order}, headers=headers(users.a1))
        assert resp.status == 200
