"""reference_server.sse: GET /api/stream, Server-Sent Events with replay, resume and heartbeat."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.reference_server.conftest import headers, read_sse_events


async def post(client, token: str, order: str, content: str) -> dict[str, Any]:
    resp = await client.post(
        "/api/messages", json={"orderId": order, "content": content}, headers=headers(token)
    )
    assert resp.status == 201
    message: dict[str, Any] = (await resp.json())["message"]
    return message


async def test_headers_and_live_event_format(client, users):
    async with client.get("/api/stream", params={"orderId": "o1"}, headers=headers(users.c1)) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        assert resp.headers["Cache-Control"] == "no-cache"
        await resp.content.readline()  # ": connected" proves the subscription is in place
        message = await post(client, users.a1, "o1", "live")
        (event,) = await read_sse_events(resp, 1)
        assert event["id"] == str(message["seq"]) and event["event"] == "message"
        assert json.loads(event["data"]) == message


async def test_query_token_is_accepted(client, users):
    async with client.get("/api/stream", params={"orderId": "o1", "token": users.c1}) as resp:
        assert resp.status == 200


async def test_since_replays_then_goes_live_in_seq_order(client, users):
    async with client.get(
        "/api/stream", params={"orderId": "o1", "since": "0"}, headers=headers(users.c1)
    ) as resp:
        replay = await read_sse_events(resp, 2)
        live = await post(client, users.a1, "o1", "after")
        (event,) = await read_sse_events(resp, 1)
    seqs = [int(e["id"]) for e in replay] + [int(event["id"])]
    assert seqs == sorted(seqs) and seqs[-1] == live["seq"]


async def test_last_event_id_resumes_with_what_was_missed(client, users):
    async with client.get("/api/stream", params={"orderId": "o1"}, headers=headers(users.c1)) as resp:
        await resp.content.readline()
        first = await post(client, users.a1, "o1", "one")
        (event,) = await read_sse_events(resp, 1)
        assert event["id"] == str(first["seq"])
    # Disconnected; two messages are committed meanwhile.
    missed = [await post(client, users.a1, "o1", "two"), await post(client, users.a1, "o1", "three")]
    resume = {**headers(users.c1), "Last-Event-ID": event["id"]}
    async with client.get("/api/stream", params={"orderId": "o1"}, headers=resume) as resp:
        events = await read_sse_events(resp, 2)
        assert [json.loads(e["data"]) for e in events] == missed
        live = await post(client, users.a1, "o1", "four")
        (after,) = await read_sse_events(resp, 1)
        assert after["id"] == str(live["seq"])  # no duplicates between replay and live


async def test_several_orders_on_one_stream(client, users):
    params = [("orderId", "o1"), ("orderId", "o2")]
    async with client.get("/api/stream", params=params, headers=headers(users.c1)) as resp:
        await resp.content.readline()
        await post(client, users.a1, "o2", "b")
        await post(client, users.a1, "o1", "a")
        events = await read_sse_events(resp, 2)
    assert [json.loads(e["data"])["content"] for e in events] == ["b", "a"]


async def test_heartbeat_comment_when_idle(client, users):
    async with client.get("/api/stream", params={"orderId": "o1"}, headers=headers(users.c1)) as resp:
        assert await resp.content.readline() == b": connected\n"
        await resp.content.readline()
        async with asyncio.timeout(2):  # heartbeat is 0.2 s in the test config
            assert await resp.content.readline() == b": heartbeat\n"


async def test_bad_last_event_id_is_400(client, users):
    resp = await client.get(
        "/api/stream", params={"orderId": "o1"}, headers={**headers(users.c1), "Last-Event-ID": "x"}
    )
    assert resp.status == 400 and (await resp.json())["error"] == "invalid_since"


async def test_unknown_order_is_404(client, users):
    resp = await client.get("/api/stream", params={"orderId": "zz"}, headers=headers(users.a1))
    assert resp.status == 404


async def test_replay_longer_than_one_page_arrives_complete_and_in_order(client, users, monkeypatch):
    monkeypatch.setattr("reference_server.pubsub.REPLAY_PAGE", 3)
    posted = [await post(client, users.a1, "o1", f"m{i}") for i in range(7)]
    async with client.get(
        "/api/stream", params={"orderId": "o1", "since": "0"}, headers=headers(users.c1)
    ) as resp:
        events = await read_sse_events(resp, 9)  # 2 seeded + 7 posted
    assert [int(e["id"]) for e in events][-7:] == [m["seq"] for m in posted]
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(set(ids))


async def test_a_stream_that_stops_reading_is_disconnected_not_buffered(aiohttp_client, tmp_path, users):
    """The bounded push queue at work over a real socket: a client that never reads is cut off."""
    import socket

    from reference_server import ServerConfig, create_app
    from reference_server.state import STATE
    from tests.reference_server.conftest import SECRET

    cfg = ServerConfig(
        db_path=":memory:",
        secret=SECRET,
        seed_customers=1,
        seed_admins=1,
        messages_per_order=0,
        push_queue_max=4,
    )
    client = await aiohttp_client(create_app(cfg))
    hub = client.server.app[STATE].hub
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a tiny window fills after a few messages
    sock.connect(("127.0.0.1", client.server.port))
    sock.sendall(f"GET /api/stream?orderId=o1&token={users.c1} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    async with asyncio.timeout(5):
        while hub.subscriber_count() == 0:
            await asyncio.sleep(0.01)
    big = "x" * 4000
    posts = 0
    while hub.subscriber_count() > 0 and posts < 2000:
        await post(client, users.a1, "o1", big)
        posts += 1
    assert hub.subscriber_count() == 0, "the non-reading stream was never cut off"
    sock.close()
