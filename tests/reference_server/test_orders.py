"""reference_server.orders: GET /api/orders, one response for all the caller's order badges."""

from __future__ import annotations

from tests.reference_server.conftest import headers


async def test_customer_sees_own_orders_with_other_partys_counts(client, users):
    resp = await client.get("/api/orders", headers=headers(users.c1))
    body = await resp.json()
    assert [o["orderId"] for o in body["orders"]] == ["o1", "o2"]
    assert all(o["total"] == 1 and o["unread"] == 1 for o in body["orders"])  # one admin message each
    assert all(set(o) == {"orderId", "total", "unread", "cursor"} for o in body["orders"])


async def test_admin_sees_all_orders(client, users):
    body = await (await client.get("/api/orders", headers=headers(users.a1))).json()
    assert [o["orderId"] for o in body["orders"]] == ["o1", "o2", "o3", "o4"]
    assert all(o["total"] == 1 for o in body["orders"])  # one customer message each


async def test_counts_follow_posts_and_mark_read(client, users):
    await client.post("/api/messages", json={"orderId": "o2", "content": "x"}, headers=headers(users.a1))
    body = await (await client.get("/api/orders", headers=headers(users.c1))).json()
    o2 = body["orders"][1]
    assert (o2["total"], o2["unread"]) == (2, 2)
    await client.put("/api/messages", json={"orderId": "o2"}, headers=headers(users.c1))
    body = await (await client.get("/api/orders", headers=headers(users.c1))).json()
    assert (body["orders"][1]["total"], body["orders"][1]["unread"]) == (2, 0)


async def test_customer_without_orders_gets_empty_list(client, users):
    stranger = users.authority.issue(id="c99", role="customer", name="Nobody", ttl_s=60)
    assert await (await client.get("/api/orders", headers=headers(stranger))).json() == {"orders": []}


async def test_orders_etag_304_until_one_of_my_orders_changes(client, users):
    etag = (await client.get("/api/orders", headers=headers(users.c1))).headers["ETag"]
    revalidate = {**headers(users.c1), "If-None-Match": etag}
    assert (await client.get("/api/orders", headers=revalidate)).status == 304
    # Activity in someone else's order leaves my list unchanged ...
    await client.post("/api/messages", json={"orderId": "o3", "content": "x"}, headers=headers(users.a1))
    assert (await client.get("/api/orders", headers=revalidate)).status == 304
    # ... activity in mine does not.
    await client.post("/api/messages", json={"orderId": "o1", "content": "x"}, headers=headers(users.a1))
    assert (await client.get("/api/orders", headers=revalidate)).status == 200


async def test_orders_etag_changes_on_mark_read(client, users):
    etag = (await client.get("/api/orders", headers=headers(users.a1))).headers["ETag"]
    await client.put("/api/messages", json={"orderId": "o4"}, headers=headers(users.a1))
    resp = await client.get("/api/orders", headers={**headers(users.a1), "If-None-Match": etag})
    assert resp.status == 200


async def test_a_cached_order_list_is_rebuilt_after_posts_and_mark_reads(client, users):
    """Order lists are cached by ETag; every change to a badge must also move the ETag."""

    async def badges(user):
        body = await (await client.get("/api/orders", headers=headers(user))).json()
        return {o["orderId"]: (o["total"], o["unread"]) for o in body["orders"]}

    assert await badges(users.c1) == await badges(users.c1) == {"o1": (1, 1), "o2": (1, 1)}
    assert (await badges(users.a1))["o2"] == (1, 1)
    await client.post("/api/messages", json={"orderId": "o2", "content": "x"}, headers=headers(users.c1))
    assert (await badges(users.a1))["o2"] == (2, 2)
    assert await badges(users.c1) == {"o1": (1, 1), "o2": (1, 1)}  # the customer's own post is no badge
    await client.put("/api/messages", json={"orderId": "o2"}, headers=headers(users.a1))
    assert (await badges(users.a1))["o2"] == (2, 0)
    await client.put("/api/messages", json={"orderId": "o1"}, headers=headers(users.c1))
    assert await badges(users.c1) == {"o1": (1, 0), "o2": (1, 1)}
