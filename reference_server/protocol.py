"""JSON errors for requests aiohttp refuses before any handler sees them.

aiohttp's HTTP parser rejects a malformed request line, an over-long URL or header, a bad Content-Length or
chunk size, or TLS sent to the plain-HTTP port before routing, so neither the route handlers' wrappers nor
a middleware ever run: aiohttp answers a plain-text 400 from ``RequestHandler.handle_error`` (and a 500/504
from the same method when a handler crashes or times out). There is no public hook for those answers
(aiohttp issue #3287 is open), so the server's connection protocol is aiohttp's ``RequestHandler`` with
``handle_error`` overridden, installed by ``JsonErrorAppRunner``. Every answer then has the API's one error
shape ``{"error": "<code>", "message": "<sentence>"}``:

| what the client sent | status | code |
|---|---|---|
| URL (path and query) longer than ``MAX_URL_BYTES`` | 414 | ``uri_too_long`` |
| a header over ``MAX_HEADER_BYTES``, or over ``MAX_HEADERS`` headers | 431 | ``headers_too_large`` |
| not HTTP (TLS on the plain port, binary garbage, unknown method) | 400 | ``not_http`` |
| anything else the parser rejects (control characters, bad Content-Length, chunks) | 400 | ``bad_request`` |

aiohttp raises the same ``LineTooLong`` for the URL and for a header; the two limits differ by a few bytes
so the limit named in the exception says which one was hit.

The parser's errors are the client's, so they are logged at debug level only (aiohttp logs each with a
traceback at error level, which lets any client flood the log); 5xx are still logged as errors.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, LineTooLong

__all__ = [
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "MAX_URL_BYTES",
    "JsonErrorAppRunner",
    "JsonErrorRequestHandler",
    "classify",
    "handler_limits",
]

MAX_URL_BYTES = 8192
"""Longest request target (path and query) accepted; 8 KiB, as most proxies and browsers allow."""
MAX_HEADER_BYTES = 8190
"""Longest header (name plus value) accepted: aiohttp's and Apache's default. It differs from
``MAX_URL_BYTES`` on purpose, so that the limit named in a ``LineTooLong`` tells URL from header."""
MAX_HEADERS = 128
"""Most headers accepted in one request (aiohttp's default)."""


def handler_limits() -> dict[str, Any]:
    """Parser limits as aiohttp ``AppRunner``/``RequestHandler`` keyword arguments."""
    return {"max_line_size": MAX_URL_BYTES, "max_field_size": MAX_HEADER_BYTES, "max_headers": MAX_HEADERS}


def _detail(exc: HttpProcessingError) -> str:
    # aiohttp's message ends with an echo of the offending bytes (up to a whole body for a bad pipelined
    # request) and a caret line: the lines before that, cut short, are what a person needs.
    head = []
    for line in (exc.message or "").strip().splitlines():
        if not line.strip():
            break  # what follows the first blank line is the echo of the input and a caret line
        head.append(line.strip().rstrip(":"))
    text = ": ".join(head) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def classify(status: int, exc: BaseException | None) -> tuple[int, str, str]:
    """Status, error code and sentence for what aiohttp passed to ``handle_error``."""
    if isinstance(exc, LineTooLong):
        if len(exc.args) > 1 and exc.args[1] == MAX_URL_BYTES:
            return 414, "uri_too_long", f"The URL (path and query) is longer than {MAX_URL_BYTES} bytes."
        return 431, "headers_too_large", f"A request header is longer than {MAX_HEADER_BYTES} bytes."
    if isinstance(exc, BadHttpMethod):
        return (
            400,
            "not_http",
            (
                "The request does not start with an HTTP method: it is not HTTP "
                "(TLS on this plain-HTTP port?), or it follows a body longer than its Content-Length said."
            ),
        )
    if isinstance(exc, HttpProcessingError):
        if "Too many headers" in (exc.message or ""):
            return 431, "headers_too_large", f"The request has more than {MAX_HEADERS} headers."
        return 400, "bad_request", f"The request is not valid HTTP/1.1: {_detail(exc)}."
    if status == 504:
        return 504, "timeout", "The server took too long to answer."
    if status >= 500:
        return status, "internal", "The server failed unexpectedly; this is a bug."
    return status, "bad_request", "The request could not be understood."


class JsonErrorRequestHandler(web.RequestHandler):
    """aiohttp's connection protocol, answering its own errors in the API's JSON shape."""

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # part of a response is out: the connection is unusable
            raise ConnectionError("response already started; cannot send an error response")
        status, code, sentence = classify(status, exc)
        if status >= 500:
            self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
        else:
            self.log_debug("Refused request from %s: %s", request.remote, sentence)
        resp = web.Response(
            status=status,
            text=json.dumps({"error": code, "message": sentence}),
            content_type="application/json",
        )
        resp.force_close()  # the parser's state is unknown after an error: never reuse the connection
        return resp


class _JsonErrorServer(web.Server):
    """``web.Server`` whose connections use ``JsonErrorRequestHandler``."""

    def __call__(self) -> web.RequestHandler:
        handler = super().__call__()
        # The base builds a plain RequestHandler from its private arguments; the subclass adds no state, so
        # switching the class keeps every argument the runner passed (limits, logging, timeouts).
        handler.__class__ = JsonErrorRequestHandler
        return handler


class JsonErrorAppRunner(web.AppRunner):
    """``web.AppRunner`` serving the app with ``JsonErrorRequestHandler`` and the parser limits above.

    ``_make_server`` is the runner's documented extension point (abstract in ``BaseRunner``).
    """

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        super().__init__(app, **{**handler_limits(), **kwargs})

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer  # no slots, no extra state: only __call__ differs
        return server
