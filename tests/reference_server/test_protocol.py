"""reference_server.protocol: what aiohttp hands to ``handle_error`` becomes the API's JSON error, with a
status and sentence that say what was wrong (end to end over a socket: test_bad_input.py)."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.http_exceptions import BadHttpMessage, BadHttpMethod, LineTooLong

from reference_server import ServerConfig, running_server
from reference_server.protocol import MAX_HEADER_BYTES, MAX_URL_BYTES, classify
from tests.reference_server.raw_http import exchange


def test_the_two_line_limits_differ_so_the_exception_tells_url_from_header():
    assert MAX_URL_BYTES != MAX_HEADER_BYTES


@pytest.mark.parametrize(
    ("status", "exc", "expected"),
    [
        (400, LineTooLong(b"/x...", MAX_URL_BYTES), (414, "uri_too_long")),
        (400, LineTooLong(b"aaa...", MAX_HEADER_BYTES), (431, "headers_too_large")),
        (400, BadHttpMessage("Too many headers received"), (431, "headers_too_large")),
        (400, BadHttpMethod("\x16\x03"), (400, "not_http")),
        (400, BadHttpMessage("Invalid header value char"), (400, "bad_request")),
        (500, RuntimeError("boom"), (500, "internal")),
        (504, None, (504, "timeout")),
    ],
)
def test_classify_maps_aiohttp_errors_to_api_codes(status, exc, expected):
    got_status, code, sentence = classify(status, exc)
    assert (got_status, code) == expected
    assert sentence.endswith(".")


def test_parser_detail_keeps_the_explanation_and_drops_the_echoed_input():
    exc = BadHttpMessage("Bad status line:\n  Invalid HTTP version:\n\n  b'GET / HTTP/9.9'\n       ^")
    assert (
        classify(400, exc)[2] == "The request is not valid HTTP/1.1: Bad status line: Invalid HTTP version."
    )


def test_parser_detail_is_cut_short():
    sentence = classify(400, BadHttpMessage("x" * 5000))[2]
    assert len(sentence) < 200


async def test_a_crashing_push_handler_gets_a_json_500(tmp_path, monkeypatch):
    """SSE and WebSocket handlers are not wrapped (see errors.py); a bug there still answers JSON."""
    from reference_server import sse

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(sse, "request_principal", broken)
    monkeypatch.setattr(
        "reference_server.protocol.JsonErrorRequestHandler.log_exception", lambda *a, **k: None
    )
    async with running_server(ServerConfig(db_path=str(tmp_path / "c.db"))) as url:
        (resp,) = await exchange(url, b"GET /api/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (resp.status, resp.json()["error"]) == (500, "internal")
        async with aiohttp.ClientSession() as session, session.get(f"{url}/healthz") as health:
            assert health.status == 200
