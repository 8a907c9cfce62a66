"""reference_server.messages: GET/POST/PUT /api/messages, ETag/304 and since."""

from __future__ import annotations

import re

from tests.reference_server.conftest import headers

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FIELDS = {"_id", "orderId", "senderType", "senderName", "content", "isRead", "createdAt", "seq"}


async def test_get_returns_seeded_conversation_in_seq_order(client, users):
    resp = await client.get("/api/messages", params={"orderId": "o1"}, headers=headers(users.c1))
    assert resp.status == 200
    body = await resp.json()
    assert [set(m) for m in body["messages"]] == [FIELDS, FIELDS]
    seqs = [m["seq"] for m in body["messages"]]
    assert seqs == sorted(seqs) and body["cursor"] == seqs[-1]
    assert [m["senderType"] for m in body["messages"]] == ["customer", "admin"]
    assert body["unread"] == 1  # the admin's one message, from the customer's point of view
    assert all(TIMESTAMP.match(m["createdAt"]) for m in body["messages"])


async def test_post_takes_sender_from_token_and_returns_201(client, users):
    resp = await client.post(
        "/api/messages",
        json={"orderId": "o1", "content": "hi", "senderType": "admin", "senderName": "Mallory"},
        headers=headers(users.c1),
    )
    assert resp.status == 201
    message = (await resp.json())["message"]
    assert set(message) == FIELDS
    assert (message["senderType"], message["senderName"], message["isRead"]) == (
        "customer",
        "Customer 1",
        False,
    )
    assert TIMESTAMP.match(message["createdAt"])


async def test_seq_strictly_increases_across_orders(client, users):
    seqs = []
    for order in ("o1", "o3", "o1", "o4"):
        resp = await client.post(
            "/api/messages", json={"orderId": order, "content": "x"}, headers=headers(users.a1)
        )
        seqs.append((await resp.json())["message"]["seq"])
    assert seqs == sorted(set(seqs)) and len(seqs) == 4


async def test_since_returns_only_newer_messages(client, users):
    first = await (
        await client.get("/api/messages", params={"orderId": "o1"}, headers=headers(users.c1))
    ).json()
    cursor = first["cursor"]
    await client.post("/api/messages", json={"orderId": "o1", "content": "new"}, headers=headers(users.a1))
    resp = await client.get(
        "/api/messages", params={"orderId": "o1", "since": cursor}, headers=headers(users.c1)
    )
    body = await resp.json()
    assert [m["content"] for m in body["messages"]] == ["new"]
    assert body["cursor"] > cursor and body["unread"] == 2


async def test_since_with_nothing_new_is_empty_with_same_cursor(client, users):
    first = await (
        await client.get("/api/messages", params={"orderId": "o2"}, headers=headers(users.c1))
    ).json()
    resp = await client.get(
        "/api/messages", params={"orderId": "o2", "since": first["cursor"]}, headers=headers(users.c1)
    )
    assert await resp.json() == {"messages": [], "unread": first["unread"], "cursor": first["cursor"]}


async def test_matching_etag_gets_304_without_body(client, users):
    resp = await client.get("/api/messages", params={"orderId": "o1"}, headers=headers(users.c1))
    etag = resp.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    again = await client.get(
        "/api/messages", params={"orderId": "o1"}, headers={**headers(users.c1), "If-None-Match": etag}
    )
    assert again.status == 304
    assert await again.read() == b""
    assert again.headers["ETag"] == etag


async def test_etag_changes_when_a_message_is_posted(client, users):
    resp = await client.get("/api/messages", params={"orderId": "o1"}, headers=headers(users.c1))
    etag = resp.headers["ETag"]
    await client.post("/api/messages", json={"orderId": "o1", "content": "x"}, headers=headers(users.a1))
    again = await client.get(
        "/api/messages", params={"orderId": "o1"}, headers={**headers(users.c1), "If-None-Match": etag}
    )
    assert again.status == 200 and again.headers["ETag"] != etag


async def test_etag_changes_when_messages_are_marked_read(client, users):
    resp = await client.get("/api/messages", params={"orderId": "o1"}, headers=headers(users.a1))
    etag = resp.headers["ETag"]
    await client.put("/api/messages", json={"orderId": "o1"}, headers=headers(users.c1))
    again = await client.get(
        "/api/messages", params={"orderId": "o1"}, headers={**headers(users.a1), "If-None-Match": etag}
    )
    assert again.status == 200
    assert [m["isRead"] for m in (await again.json())["messages"]] == [False, True]


async def test_etag_differs_between_customer_and_admin_views(client, users):
    c = await client.get("/api/messages", params={"orderId": "o1"}, headers=headers(users.c1))
    a = await client.get("/api/messages", params={"orderId": "o1"}, headers=headers(users.a1))
    assert c.headers["ETag"] != a.headers["ETag"]


async def test_put_marks_only_the_other_partys_messages(client, users):
    await client.post("/api/messages", json={"orderId": "o1", "content": "a"}, headers=headers(users.a1))
    resp = await client.put("/api/messages", json={"orderId": "o1"}, headers=headers(users.c1))
    assert await resp.json() == {"updated": 2}
    body = await (
        await client.get("/api/messages", params={"orderId": "o1"}, headers=headers(users.c1))
    ).json()
    assert body["unread"] == 0
    assert {m["senderType"]: m["isRead"] for m in body["messages"] if m["senderType"] == "customer"} == {
        "customer": False
    }
    admin_view = await (
        await client.get("/api/messages", params={"orderId": "o1"}, headers=headers(users.a1))
    ).json()
    assert admin_view["unread"] == 1


async def test_put_twice_updates_nothing_the_second_time(client, users):
    await client.put("/api/messages", json={"orderId": "o1"}, headers=headers(users.c1))
    resp = await client.put("/api/messages", json={"orderId": "o1"}, headers=headers(users.c1))
    assert await resp.json() == {"updated": 0}


async def test_a_cached_full_poll_body_is_rebuilt_after_a_post_and_a_mark_read(client, users):
    """Bodies are cached by ETag; every state change that alters the body also moves the ETag."""

    async def full_poll():
        resp = await client.get("/api/messages", params={"orderId": "o1"}, headers=headers(users.c1))
        return await resp.json()

    first = await full_poll()
    assert await full_poll() == first  # served from the cache
    await client.post("/api/messages", json={"orderId": "o1", "content": "new"}, headers=headers(users.a1))
    after_post = await full_poll()
    assert after_post["messages"][-1]["content"] == "new"
    assert after_post["unread"] == first["unread"] + 1
    await client.put("/api/messages", json={"orderId": "o1"}, headers=headers(users.c1))
    after_read = await full_poll()
    assert after_read["unread"] == 0
    assert all(m["isRead"] for m in after_read["messages"] if m["senderType"] == "admin")


async def test_a_repeated_poll_is_not_reused_for_another_customer(client, users):
    """The poll memo is keyed by the Authorization value: c2 sending c1's exact request is refused."""
    for _ in range(2):
        resp = await client.get("/api/messages", params={"orderId": "o1"}, headers=headers(users.c1))
        assert resp.status == 200
    other = await client.get("/api/messages", params={"orderId": "o1"}, headers=headers(users.c2))
    assert other.status == 403


async def test_a_repeated_since_poll_sees_news_and_mark_reads(client, users):
    first = await (
        await client.get("/api/messages", params={"orderId": "o1"}, headers=headers(users.c1))
    ).json()
    params = {"orderId": "o1", "since": first["cursor"]}

    async def poll():
        return await (await client.get("/api/messages", params=params, headers=headers(users.c1))).json()

    assert (await poll())["messages"] == [] and (await poll())["messages"] == []
    await client.post("/api/messages", json={"orderId": "o1", "content": "news"}, headers=headers(users.a1))
    after = await poll()
    assert [m["content"] for m in after["messages"]] == ["news"] and after["unread"] == first["unread"] + 1
    await client.put("/api/messages", json={"orderId": "o1"}, headers=headers(users.c1))
    assert (await poll())["unread"] == 0
