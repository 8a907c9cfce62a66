"""Hand-written bad HTTP input against a real server socket: every case gets a clear 4xx JSON error
``{"error", "message"}``, and the server answers normally afterwards (checked after every test).

Cases aiohttp's parser refuses before routing (over-long URL or header, bytes 0x80-0xFF in the request
line, a lying Content-Length followed by garbage) are sent as raw bytes; see ``reference_server.protocol``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from reference_server import ServerConfig, TokenAuthority, running_server
from tests.reference_server.conftest import SECRET, Users, headers
from tests.reference_server.raw_http import RawResponse, exchange, request_bytes

BODY_TIMEOUT_S = 0.5

# One server for the module (a server per case would spend most of the time starting servers); every test
# is followed by a health check, so a case that broke the server fails where it happened.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    cfg = ServerConfig(
        db_path=str(tmp_path_factory.mktemp("bad_input") / "chat.db"),
        secret=SECRET,
        seed_customers=2,
        orders_per_customer=2,
        seed_admins=1,
        messages_per_order=2,
        body_timeout_s=BODY_TIMEOUT_S,
    )
    async with running_server(cfg) as url:
        yield url


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def healthy_afterwards(server: str, users: Users) -> AsyncIterator[None]:
    """After each case the server still answers its health check and a normal poll."""
    yield
    async with aiohttp.ClientSession(headers=headers(users.c1)) as session:
        async with session.get(f"{server}/healthz") as resp:
            assert resp.status == 200
        async with session.get(f"{server}/api/messages", params={"orderId": "o1"}) as resp:
            assert resp.status == 200 and len((await resp.json())["messages"]) == 2


def assert_error(status: int, content_type: str, body: Any, expected: int, code: str) -> None:
    assert (status, body.get("error")) == (expected, code), body
    assert content_type.startswith("application/json")
    assert set(body) == {"error", "message"}
    assert isinstance(body["message"], str) and body["message"].endswith(".")


def assert_raw_error(resp: RawResponse, expected: int, code: str) -> None:
    assert_error(resp.status, resp.headers["content-type"], resp.json(), expected, code)


async def call(url: str, method: str, path: str, **kwargs: Any) -> tuple[int, str, Any]:
    async with aiohttp.ClientSession() as session, session.request(method, url + path, **kwargs) as resp:
        return resp.status, resp.content_type, await resp.json(content_type=None)


def auth(token: str) -> dict[str, bytes]:
    return {"Authorization": b"Bearer " + token.encode()}


# -- bodies ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2]", b'"o1"', b"null", b'{"orderId": "\xff\xfe"}'])
async def test_malformed_or_non_utf8_json_body_is_400(server, users, method, body):
    status, ctype, data = await call(server, method, "/api/messages", data=body, headers=headers(users.c1))
    assert_error(status, ctype, data, 400, "malformed_json")


async def test_body_over_64_kib_is_413(server, users):
    big = b'{"orderId": "o1", "content": "' + b"x" * (65 * 1024) + b'"}'
    status, ctype, data = await call(server, "POST", "/api/messages", data=big, headers=headers(users.c1))
    assert_error(status, ctype, data, 413, "payload_too_large")


async def test_content_length_announcing_too_much_is_413_before_the_body_is_read(server, users):
    head = {**auth(users.c1), "Content-Length": b"10000000000"}  # 10 GB announced, 2 bytes sent
    (resp,) = await exchange(server, request_bytes("POST", b"/api/messages", head, b"{}"), timeout=2)
    assert_raw_error(resp, 413, "payload_too_large")


async def test_chunked_body_over_64_kib_is_413(server, users):
    chunk = b"%x\r\n" % 8192 + b"x" * 8192 + b"\r\n"
    head = {**auth(users.c1), "Transfer-Encoding": b"chunked"}
    data = request_bytes("POST", b"/api/messages", head, chunk * 10 + b"0\r\n\r\n")
    (resp,) = await exchange(server, data)
    assert_raw_error(resp, 413, "payload_too_large")


async def test_content_length_promising_more_than_sent_is_408_after_the_body_timeout(server, users):
    head = {**auth(users.c1), "Content-Length": b"1000"}
    (resp,) = await exchange(server, request_bytes("POST", b"/api/messages", head, b'{"orderId"'))
    assert_raw_error(resp, 408, "request_timeout")


async def test_body_longer_than_its_content_length_gets_json_400s_only(server, users):
    """The bytes past Content-Length are read as the next request, which is not HTTP."""
    body = b'{"orderId": "o1", "content": "' + b"x" * 70_000 + b'"}'
    head = {**auth(users.c1), "Content-Length": b"5"}
    got = await exchange(server, request_bytes("POST", b"/api/messages", head, body), responses=None)
    assert got
    for resp in got:
        assert resp.status == 400 and resp.json()["error"] in ("malformed_json", "not_http")
        assert_raw_error(resp, 400, resp.json()["error"])


async def test_broken_chunk_framing_is_400(server, users):
    head = {**auth(users.c1), "Transfer-Encoding": b"chunked"}
    data = request_bytes("POST", b"/api/messages", head, b'5\r\n{"ord\r\nzz\r\n')
    (resp,) = await exchange(server, data)
    assert_raw_error(resp, 400, "bad_request")


@pytest.mark.parametrize("value", [b"abc", b"-5", b"1, 2"])
async def test_invalid_content_length_is_400(server, users, value):
    data = request_bytes("POST", b"/api/messages", {**auth(users.c1), "Content-Length": value}, b"{}")
    (resp,) = await exchange(server, data)
    assert_raw_error(resp, 400, "bad_request")


# -- invalid UTF-8 and control bytes ---------------------------------------------------------------
async def test_raw_non_ascii_byte_in_query_is_400(server, users):
    (resp,) = await exchange(server, request_bytes("GET", b"/api/messages?orderId=\xff", auth(users.c1)))
    assert_raw_error(resp, 400, "bad_request")


async def test_percent_encoded_invalid_utf8_order_id_is_404(server, users):
    (resp,) = await exchange(server, request_bytes("GET", b"/api/messages?orderId=%ff%fe", auth(users.c1)))
    assert_raw_error(resp, 404, "order_not_found")


async def test_percent_encoded_invalid_utf8_since_is_400(server, users):
    target = b"/api/messages?orderId=o1&since=%ff"
    (resp,) = await exchange(server, request_bytes("GET", target, auth(users.c1)))
    assert_raw_error(resp, 400, "invalid_since")


async def test_invalid_utf8_in_authorization_header_is_401(server):
    (resp,) = await exchange(
        server, request_bytes("GET", b"/api/orders", {"Authorization": b"Bearer \xff\xfe"})
    )
    assert_raw_error(resp, 401, "invalid_token")


async def test_invalid_utf8_in_last_event_id_is_400(server, users):
    head = {**auth(users.c1), "Last-Event-ID": b"\xff1"}
    (resp,) = await exchange(server, request_bytes("GET", b"/api/stream?orderId=o1", head))
    assert_raw_error(resp, 400, "invalid_since")


async def test_control_character_in_header_is_400(server, users):
    (resp,) = await exchange(
        server, request_bytes("GET", b"/api/orders", {**auth(users.c1), "X-A": b"a\x01b"})
    )
    assert_raw_error(resp, 400, "bad_request")


# -- huge heads and non-HTTP -----------------------------------------------------------------------
async def test_100_kib_header_is_431(server, users):
    (resp,) = await exchange(server, request_bytes("GET", b"/api/orders", {"X-Big": b"a" * 100 * 1024}))
    assert_raw_error(resp, 431, "headers_too_large")


async def test_too_many_headers_is_431(server):
    many = {f"X-{i}": b"1" for i in range(200)}
    (resp,) = await exchange(server, request_bytes("GET", b"/api/orders", many))
    assert_raw_error(resp, 431, "headers_too_large")


async def test_100_kib_query_string_is_414(server, users):
    target = b"/api/messages?orderId=" + b"a" * 100 * 1024
    (resp,) = await exchange(server, request_bytes("GET", target, auth(users.c1)))
    assert_raw_error(resp, 414, "uri_too_long")


@pytest.mark.parametrize(
    "data", [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", b"G@T / HTTP/1.1\r\n\r\n"]
)
async def test_not_http_is_400(server, data):
    (resp,) = await exchange(server, data)
    assert_raw_error(resp, 400, "not_http")


# -- cursors and timeouts --------------------------------------------------------------------------
BAD_SEQS = ["-1", str(2**63), str(2**64 + 1), "abc", "1.5", "1e3", "", " 1", "0x10", "５"]
CURSOR_PATHS = ["/api/messages", "/api/messages/wait", "/api/stream"]


@pytest.mark.parametrize("path", CURSOR_PATHS)
@pytest.mark.parametrize("since", BAD_SEQS)
async def test_bad_since_is_400_on_every_cursor_endpoint(server, users, path, since):
    params = {"orderId": "o1", "since": since}
    status, ctype, data = await call(server, "GET", path, params=params, headers=headers(users.c1))
    assert_error(status, ctype, data, 400, "invalid_since")


@pytest.mark.parametrize("last_event_id", ["-1", str(2**64), "abc", "1.5"])
async def test_bad_last_event_id_is_400(server, users, last_event_id):
    head = {**headers(users.c1), "Last-Event-ID": last_event_id}
    status, ctype, data = await call(server, "GET", "/api/stream", params={"orderId": "o1"}, headers=head)
    assert_error(status, ctype, data, 400, "invalid_since")


@pytest.mark.parametrize(
    "timeout", ["-1", "0", "61", str(2**64), "abc", "1e1", "1_0", " 5", "５", "nan", "inf"]
)
async def test_bad_longpoll_timeout_is_400(server, users, timeout):
    params = {"orderId": "o1", "since": "0", "timeout": timeout}
    status, ctype, data = await call(
        server, "GET", "/api/messages/wait", params=params, headers=headers(users.c1)
    )
    assert_error(status, ctype, data, 400, "invalid_timeout")


async def test_fractional_longpoll_timeout_is_honoured(server, users):
    params = {"orderId": "o1", "timeout": "0.05"}  # no since: waits for the next message, none comes
    async with aiohttp.ClientSession(headers=headers(users.c1)) as session:
        async with session.get(f"{server}/api/messages/wait", params=params) as resp:
            assert resp.status == 204


# -- repeated parameters ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/messages", [("orderId", "o1"), ("orderId", "o2")]),
        ("/api/messages", [("orderId", "o1"), ("since", "0"), ("since", "5")]),
        ("/api/messages/wait", [("orderId", "o1"), ("orderId", "o2"), ("since", "0")]),
        ("/api/stream", [("orderId", "o1"), ("since", "0"), ("since", "1")]),
    ],
)
async def test_a_single_valued_parameter_given_twice_is_400_ambiguous(server, users, path, params):
    status, ctype, data = await call(server, "GET", path, params=params, headers=headers(users.c1))
    assert_error(status, ctype, data, 400, "ambiguous")


@pytest.mark.parametrize("path", ["/api/stream", "/ws"])
async def test_token_given_twice_is_400_ambiguous(server, users, path):
    params = [("orderId", "o1"), ("token", users.c1), ("token", users.c2)]
    status, ctype, data = await call(server, "GET", path, params=params)
    assert_error(status, ctype, data, 400, "ambiguous")


async def test_stream_takes_repeated_order_ids(server, users):
    params = [("orderId", "o1"), ("orderId", "o2")]
    async with aiohttp.ClientSession(headers=headers(users.c1)) as session:
        async with session.get(f"{server}/api/stream", params=params) as resp:
            assert resp.status == 200
            assert await resp.content.readline() == b": connected\n"


async def test_plain_get_on_the_websocket_endpoint_is_400(server, users):
    status, ctype, data = await call(server, "GET", "/ws", headers=headers(users.c1))
    assert_error(status, ctype, data, 400, "not_websocket")


# -- tokens on every channel -----------------------------------------------------------------------
WS_UPGRADE = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


def channels(token: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Every way to reach order o1 (owned by c1) with ``token``: method, path, request arguments."""
    bearer = headers(token)
    return {
        "poll": ("GET", "/api/messages", {"params": {"orderId": "o1"}, "headers": bearer}),
        "post": ("POST", "/api/messages", {"json": {"orderId": "o1", "content": "x"}, "headers": bearer}),
        "mark_read": ("PUT", "/api/messages", {"json": {"orderId": "o1"}, "headers": bearer}),
        "longpoll": (
            "GET",
            "/api/messages/wait",
            {"params": {"orderId": "o1", "timeout": "0.05"}, "headers": bearer},
        ),
        "sse_header": ("GET", "/api/stream", {"params": {"orderId": "o1"}, "headers": bearer}),
        "sse_query": ("GET", "/api/stream", {"params": {"orderId": "o1", "token": token}}),
        "ws_header": ("GET", "/ws", {"headers": {**bearer, **WS_UPGRADE}}),
        "ws_query": ("GET", "/ws", {"params": {"token": token}, "headers": WS_UPGRADE}),
    }


def bad_tokens(users: Users) -> dict[str, tuple[str, int, str]]:
    forged = TokenAuthority("not-the-server-secret").issue(id="c1", role="admin", name="Mallory", ttl_s=600)
    good_sig = users.c1.partition(".")[2]
    return {
        "bogus": ("nonsense", 401, "invalid_token"),
        "forged": (forged, 401, "invalid_token"),
        "spliced": (
            users.a1.partition(".")[0] + "." + good_sig,
            401,
            "invalid_token",
        ),  # admin claims, c1's sig
        "expired": (users.expired, 401, "token_expired"),
        "other_user": (users.c2, 403, "forbidden"),
    }


TOKEN_CASES = [
    (channel, kind)
    for channel in channels("t")
    for kind in ("bogus", "forged", "spliced", "expired", "other_user")
    # A WebSocket is authorized per order in its subscribe frames: test_ws_bad_input covers other_user.
    if not (kind == "other_user" and channel.startswith("ws"))
]


@pytest.mark.parametrize(("channel", "kind"), TOKEN_CASES)
async def test_bad_tokens_are_refused_on_every_channel(server, users, channel, kind):
    token, expected, code = bad_tokens(users)[kind]
    method, path, kwargs = channels(token)[channel]
    status, ctype, data = await call(server, method, path, **kwargs)
    assert_error(status, ctype, data, expected, code)
