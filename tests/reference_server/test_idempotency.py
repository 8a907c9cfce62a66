"""POST /api/messages with a clientMessageId: a retried post returns the stored message, never a copy."""

from __future__ import annotations

from typing import Any

from reference_server import ServerConfig, create_app
from tests.reference_server.conftest import Users, headers


async def _post(client: Any, token: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], Any]:
    resp = await client.post("/api/messages", json=body, headers=headers(token))
    return resp.status, await resp.json(), resp.headers


async def test_a_retry_with_the_same_key_returns_the_stored_message(client: Any, users: Users) -> None:
    body = {"orderId": "o1", "content": "hello once", "clientMessageId": "4f1c-retry-1"}
    status1, first, headers1 = await _post(client, users.c1, body)
    status2, second, headers2 = await _post(client, users.c1, body)
    assert (status1, status2) == (201, 201)
    assert first["message"] == second["message"]
    assert "Idempotent-Replayed" not in headers1 and headers2["Idempotent-Replayed"] == "true"
    listing = await (await client.get("/api/messages?orderId=o1", headers=headers(users.c1))).json()
    assert [m["content"] for m in listing["messages"]].count("hello once") == 1


async def test_a_replayed_post_is_not_pushed_again(client: Any, users: Users) -> None:
    body = {"orderId": "o1", "content": "pushed once", "clientMessageId": "push-1"}
    first = await _post(client, users.c1, body)
    cursor = first[1]["message"]["seq"]
    await _post(client, users.c1, body)
    wait = f"/api/messages/wait?orderId=o1&since={cursor}&timeout=0.3"
    resp = await client.get(wait, headers=headers(users.a1))
    assert resp.status == 204  # nothing committed after the first post


async def test_the_same_key_with_other_content_is_a_conflict(client: Any, users: Users) -> None:
    await _post(client, users.c1, {"orderId": "o1", "content": "first", "clientMessageId": "k1"})
    again = {"orderId": "o1", "content": "other", "clientMessageId": "k1"}
    status, error, _ = await _post(client, users.c1, again)
    assert (status, error["error"]) == (409, "idempotency_conflict")


async def test_keys_belong_to_one_sender_and_one_order(client: Any, users: Users) -> None:
    a = await _post(client, users.c1, {"orderId": "o1", "content": "x", "clientMessageId": "same"})
    b = await _post(client, users.a1, {"orderId": "o1", "content": "x", "clientMessageId": "same"})
    c = await _post(client, users.c1, {"orderId": "o2", "content": "x", "clientMessageId": "same"})
    assert len({a[1]["message"]["seq"], b[1]["message"]["seq"], c[1]["message"]["seq"]}) == 3


async def test_without_a_key_every_post_is_a_new_message(client: Any, users: Users) -> None:
    a = await _post(client, users.c1, {"orderId": "o1", "content": "again"})
    b = await _post(client, users.c1, {"orderId": "o1", "content": "again"})
    assert a[1]["message"]["seq"] != b[1]["message"]["seq"]


async def test_a_malformed_key_is_a_clear_400(client: Any, users: Users) -> None:
    for bad in ("", "has space", "x" * 65, 12, ["k"]):
        body = {"orderId": "o1", "content": "c", "clientMessageId": bad}
        status, error, _ = await _post(client, users.c1, body)
        assert (status, error["error"]) == (400, "invalid_field") and "clientMessageId" in error["message"]


async def test_the_key_survives_a_restart_on_the_same_database(
    cfg: ServerConfig, users: Users, aiohttp_client: Any
) -> None:
    body = {"orderId": "o1", "content": "durable", "clientMessageId": "crash-safe"}
    seqs = []
    for _ in range(2):  # a second app on the same file stands for the server restarted after a crash
        client = await aiohttp_client(create_app(cfg))
        status, answer, _ = await _post(client, users.c1, body)
        assert status == 201
        seqs.append(answer["message"]["seq"])
        await client.close()
    assert seqs[0] == seqs[1]
