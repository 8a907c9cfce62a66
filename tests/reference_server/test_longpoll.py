"""reference_server.longpoll: held until a commit (answered within 100 ms of it) or 204 at timeout."""

from __future__ import annotations

import asyncio
import time

from tests.reference_server.conftest import headers


async def cursor_of(client, token: str, order: str) -> int:
    resp = await client.get("/api/messages", params={"orderId": order}, headers=headers(token))
    return int((await resp.json())["cursor"])


async def test_returns_immediately_when_already_behind(client, users):
    resp = await client.get(
        "/api/messages/wait",
        params={"orderId": "o1", "since": "0", "timeout": "5"},
        headers=headers(users.c1),
    )
    body = await resp.json()
    assert resp.status == 200 and len(body["messages"]) == 2 and body["cursor"] == body["messages"][-1]["seq"]


async def test_times_out_with_204(client, users):
    cursor = await cursor_of(client, users.c1, "o1")
    started = time.monotonic()
    resp = await client.get(
        "/api/messages/wait",
        params={"orderId": "o1", "since": cursor, "timeout": "0.3"},
        headers=headers(users.c1),
    )
    elapsed = time.monotonic() - started
    assert resp.status == 204
    assert 0.25 <= elapsed < 2.0


async def test_wakes_promptly_on_commit_in_the_order(client, users):
    cursor = await cursor_of(client, users.c1, "o1")
    poll = asyncio.create_task(
        client.get(
            "/api/messages/wait",
            params={"orderId": "o1", "since": cursor, "timeout": "10"},
            headers=headers(users.c1),
        )
    )
    await asyncio.sleep(0.2)  # let the poll park (its timeout is 10 s, far beyond what we accept)
    assert not poll.done()
    posted = await client.post(
        "/api/messages", json={"orderId": "o1", "content": "ping"}, headers=headers(users.a1)
    )
    acked = time.monotonic()
    resp = await asyncio.wait_for(poll, timeout=1.0)
    woke_after = time.monotonic() - acked
    assert resp.status == 200
    body = await resp.json()
    assert [m["content"] for m in body["messages"]] == ["ping"]
    assert body["cursor"] == (await posted.json())["message"]["seq"]
    assert woke_after < 0.1, f"long-poll answered {woke_after * 1000:.0f} ms after the POST returned"


async def test_commit_in_another_order_does_not_wake_it(client, users):
    cursor = await cursor_of(client, users.c1, "o1")
    poll = asyncio.create_task(
        client.get(
            "/api/messages/wait",
            params={"orderId": "o1", "since": cursor, "timeout": "0.5"},
            headers=headers(users.c1),
        )
    )
    await asyncio.sleep(0.1)
    await client.post(
        "/api/messages", json={"orderId": "o2", "content": "elsewhere"}, headers=headers(users.a1)
    )
    assert (await asyncio.wait_for(poll, timeout=3)).status == 204


async def test_without_since_waits_for_the_next_message(client, users):
    poll = asyncio.create_task(
        client.get("/api/messages/wait", params={"orderId": "o1", "timeout": "5"}, headers=headers(users.c1))
    )
    await asyncio.sleep(0.1)
    await client.post("/api/messages", json={"orderId": "o1", "content": "next"}, headers=headers(users.a1))
    body = await (await asyncio.wait_for(poll, timeout=2)).json()
    assert [m["content"] for m in body["messages"]] == ["next"]
