"""reference_server.errors and params: every client mistake is a JSON 4xx with a readable message."""

from __future__ import annotations

import pytest

from tests.reference_server.conftest import headers


async def assert_error(resp, status: int, code: str) -> None:
    assert resp.status == status
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"].endswith(".")


async def test_malformed_json_is_400(client, users):
    resp = await client.post("/api/messages", data=b"{not json", headers=headers(users.c1))
    await assert_error(resp, 400, "malformed_json")


async def test_non_object_json_is_400(client, users):
    resp = await client.post("/api/messages", json=["o1", "hi"], headers=headers(users.c1))
    await assert_error(resp, 400, "malformed_json")


async def test_invalid_utf8_body_is_400(client, users):
    resp = await client.post("/api/messages", data=b'{"orderId": "\xff"}', headers=headers(users.c1))
    await assert_error(resp, 400, "malformed_json")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"content": "hi"}, "missing_field"),
        ({"orderId": "o1"}, "missing_field"),
        ({"orderId": 7, "content": "hi"}, "invalid_field"),
        ({"orderId": "", "content": "hi"}, "invalid_field"),
        ({"orderId": "o1", "content": 5}, "invalid_field"),
        ({"orderId": "o1", "content": ""}, "empty_content"),
        ({"orderId": "o1", "content": "   \n"}, "empty_content"),
        ({"orderId": "o1", "content": "x" * 4001}, "content_too_long"),
    ],
)
async def test_bad_post_fields_are_400(client, users, body, code):
    resp = await client.post("/api/messages", json=body, headers=headers(users.c1))
    await assert_error(resp, 400, code)


async def test_lone_surrogate_in_content_is_400_not_500(client, users):
    body = b'{"orderId": "o1", "content": "\\ud800"}'
    resp = await client.post("/api/messages", data=body, headers=headers(users.c1))
    await assert_error(resp, 400, "invalid_field")


@pytest.mark.parametrize("method", ["post", "put"])
async def test_json_nested_beyond_the_parsers_limit_is_400_not_500(client, users, method):
    deep = b"[" * 30_000 + b"]" * 30_000  # under 64 KiB, deeper than the recursion limit
    resp = await getattr(client, method)("/api/messages", data=deep, headers=headers(users.c1))
    await assert_error(resp, 400, "malformed_json")


async def test_content_of_exactly_4000_chars_is_accepted(client, users):
    resp = await client.post(
        "/api/messages", json={"orderId": "o1", "content": "é" * 4000}, headers=headers(users.c1)
    )
    assert resp.status == 201


async def test_put_without_order_id_is_400(client, users):
    resp = await client.put("/api/messages", json={}, headers=headers(users.c1))
    await assert_error(resp, 400, "missing_field")


async def test_get_without_order_id_is_400(client, users):
    resp = await client.get("/api/messages", headers=headers(users.c1))
    await assert_error(resp, 400, "missing_field")


@pytest.mark.parametrize("since", ["-1", "abc", "1.5", "", "99999999999999999999999", "５", "²"])
async def test_bad_since_is_400(client, users, since):
    resp = await client.get(
        "/api/messages", params={"orderId": "o1", "since": since}, headers=headers(users.c1)
    )
    await assert_error(resp, 400, "invalid_since")


@pytest.mark.parametrize("timeout", ["0", "-1", "61", "nan", "inf", "soon"])
async def test_bad_longpoll_timeout_is_400(client, users, timeout):
    resp = await client.get(
        "/api/messages/wait",
        params={"orderId": "o1", "since": "0", "timeout": timeout},
        headers=headers(users.c1),
    )
    await assert_error(resp, 400, "invalid_timeout")


async def test_missing_token_is_401(client):
    await assert_error(await client.get("/api/messages", params={"orderId": "o1"}), 401, "missing_token")


@pytest.mark.parametrize("auth", ["Bearer nonsense", "Bearer a.b", "Basic dXNlcjpwdw==", "Bearer "])
async def test_bad_token_is_401(client, auth):
    resp = await client.get("/api/messages", params={"orderId": "o1"}, headers={"Authorization": auth})
    await assert_error(resp, 401, "invalid_token")


async def test_token_signed_with_another_secret_is_401(client):
    from reference_server import TokenAuthority

    forged = TokenAuthority("other").issue(id="c1", role="admin", name="x", ttl_s=60)
    resp = await client.get("/api/orders", headers=headers(forged))
    await assert_error(resp, 401, "invalid_token")


async def test_expired_token_is_401(client, users):
    await assert_error(await client.get("/api/orders", headers=headers(users.expired)), 401, "token_expired")


async def test_query_token_is_not_accepted_on_plain_endpoints(client, users):
    resp = await client.get("/api/messages", params={"orderId": "o1", "token": users.c1})
    await assert_error(resp, 401, "missing_token")


async def test_unknown_order_is_404(client, users):
    resp = await client.get("/api/messages", params={"orderId": "o999"}, headers=headers(users.a1))
    await assert_error(resp, 404, "order_not_found")


async def test_post_to_unknown_order_is_404(client, users):
    resp = await client.post(
        "/api/messages", json={"orderId": "nope", "content": "x"}, headers=headers(users.a1)
    )
    await assert_error(resp, 404, "order_not_found")


async def test_unknown_route_is_json_404(client):
    await assert_error(await client.get("/api/nothing"), 404, "not_found")


async def test_wrong_method_is_json_405_with_allow(client, users):
    resp = await client.delete("/api/messages", headers=headers(users.c1))
    await assert_error(resp, 405, "method_not_allowed")
    assert "GET" in resp.headers["Allow"]


async def test_body_over_64_kib_is_413(client, users):
    big = b'{"orderId": "o1", "content": "' + b"x" * (65 * 1024) + b'"}'
    resp = await client.post("/api/messages", data=big, headers=headers(users.c1))
    await assert_error(resp, 413, "payload_too_large")
