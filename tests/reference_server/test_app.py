"""reference_server.app: the factory, durability across apps, health, metrics, the ceiling handler."""

from __future__ import annotations

import asyncio

from reference_server import ServerConfig, create_app
from reference_server.app import prune_once
from reference_server.state import STATE
from tests.reference_server.conftest import headers


async def test_second_app_on_the_same_file_sees_every_acknowledged_message(aiohttp_client, cfg, users):
    first = await aiohttp_client(create_app(cfg))
    posts = [
        first.post(
            "/api/messages", json={"orderId": f"o{1 + i % 4}", "content": f"m{i}"}, headers=headers(users.a1)
        )
        for i in range(40)
    ]
    acked = [(await r.json())["message"] for r in await asyncio.gather(*posts)]
    assert all("seq" in m for m in acked)
    # A second, independent app (own connections, own order book) opened on the same file.
    second = await aiohttp_client(create_app(cfg))
    stored = {}
    for order in ("o1", "o2", "o3", "o4"):
        body = await (
            await second.get("/api/messages", params={"orderId": order}, headers=headers(users.a1))
        ).json()
        stored.update({m["seq"]: m for m in body["messages"]})
    for message in acked:
        assert stored[message["seq"]] == message
    orders = await (await second.get("/api/orders", headers=headers(users.a1))).json()
    assert [o["total"] for o in orders["orders"]] == [1, 1, 1, 1]  # the admin view counts customer messages
    # Counters were rebuilt from disk: the 40 admin posts show as unread for the customers.
    c1 = await (await second.get("/api/orders", headers=headers(users.c1))).json()
    assert [o["unread"] for o in c1["orders"]] == [1 + 10, 1 + 10]


async def test_seeding_is_idempotent_on_restart(aiohttp_client, cfg, users):
    await aiohttp_client(create_app(cfg))
    again = await aiohttp_client(create_app(cfg))
    body = await (
        await again.get("/api/messages", params={"orderId": "o1"}, headers=headers(users.a1))
    ).json()
    assert len(body["messages"]) == cfg.messages_per_order


async def test_healthz_is_ok(client):
    resp = await client.get("/healthz")
    assert resp.status == 200 and await resp.json() == {"status": "ok"}


async def test_noop_needs_no_auth(client):
    resp = await client.get("/bench/noop")
    assert resp.status == 200 and await resp.json() == {"ok": True}


async def test_metrics_expose_requests_bytes_connections_and_process(client, users):
    await client.get("/api/messages", params={"orderId": "o1"}, headers=headers(users.c1))
    await client.get("/api/messages", params={"orderId": "o3"}, headers=headers(users.c1))
    async with client.get("/api/stream", params={"orderId": "o1"}, headers=headers(users.c1)) as stream:
        await stream.content.readline()
        text = await (await client.get("/metrics")).text()
    assert 'pollbench_http_requests_total{method="GET",route="/api/messages",status="200"} 1.0' in text
    assert 'pollbench_http_requests_total{method="GET",route="/api/messages",status="403"} 1.0' in text
    assert 'pollbench_http_response_bytes_total{route="/api/messages"}' in text
    assert 'pollbench_open_push_connections{kind="sse"} 1.0' in text
    assert "pollbench_store_query_seconds_bucket" in text
    assert "process_cpu_seconds_total" in text and "process_resident_memory_bytes" in text


async def test_push_series_read_zero_before_the_first_connection(client):
    text = await (await client.get("/metrics")).text()
    for kind in ("sse", "ws"):
        assert f'pollbench_open_push_connections{{kind="{kind}"}} 0.0' in text
        assert f'pollbench_push_deliveries_total{{kind="{kind}"}} 0.0' in text


async def test_push_deliveries_are_counted(client, users):
    async with client.ws_connect("/ws", headers=headers(users.c1)) as ws:
        await ws.send_json({"type": "subscribe", "orderIds": ["o1"], "since": 0})
        for _ in range(3):
            await ws.receive_json(timeout=2)
        text = await (await client.get("/metrics")).text()
    assert 'pollbench_push_deliveries_total{kind="ws"} 2.0' in text


async def test_two_apps_in_one_process_have_separate_metrics(aiohttp_client, cfg, tmp_path):
    one = await aiohttp_client(create_app(cfg))
    two = await aiohttp_client(create_app(ServerConfig(db_path=str(tmp_path / "other.db"))))
    await one.get("/bench/noop")
    text = await (await two.get("/metrics")).text()
    assert 'route="/bench/noop"' not in text


async def test_pruning_drops_old_messages_and_retires_etags(aiohttp_client, cfg, users):
    client = await aiohttp_client(create_app(cfg))
    state = client.server.app[STATE]
    etag = (await client.get("/api/messages", params={"orderId": "o1"}, headers=headers(users.c1))).headers[
        "ETag"
    ]
    # Age every row by 31 days, then prune as the background task would.
    state.db()._writer.execute("UPDATE messages SET createdAt = createdAt - 31 * 86400000")
    await prune_once(state)  # the background pruner's first pass may win the race; either one prunes all
    assert state.db().since(None, 0) == []
    resp = await client.get(
        "/api/messages", params={"orderId": "o1"}, headers={**headers(users.c1), "If-None-Match": etag}
    )
    assert resp.status == 200
    body = await resp.json()
    assert body["messages"] == [] and body["unread"] == 0 and body["cursor"] > 0
