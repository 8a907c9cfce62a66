"""API errors as JSON: every failure a client can cause is a 4xx with a code and a sentence a person
understands, ``{"error": "<code>", "message": "..."}``; client input never causes a 500.

Deliberately not a middleware. With any middleware at all, aiohttp wraps every request in extra coroutine
frames that stay alive as long as the handler runs; for thousands of idle SSE streams and WebSockets that is
about 0.9 KiB per connection. So request/response handlers are wrapped with ``json_errors``, push handlers
turn their (pre-stream) ``ApiError`` into a response themselves, and a catch-all route answers unknown paths
(404) and wrong methods (405) in JSON.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

__all__ = [
    "UNMATCHED",
    "ApiError",
    "error_response",
    "hot_path",
    "internal_error",
    "json_errors",
    "unmatched",
]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SyncHandler = Callable[[web.Request], web.Response]

UNMATCHED = "unmatched"
"""Name of the catch-all route (and the metrics label of requests that matched no real route)."""

# aiohttp's own HTTP exceptions (body size, bad request) mapped to our codes and sentences.
_HTTP_ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "The request could not be understood."),
    404: ("not_found", "There is no such endpoint; see /openapi.json for the API."),
    405: ("method_not_allowed", "This endpoint does not accept that HTTP method."),
    413: ("payload_too_large", "The request body is larger than the 64 KiB this server accepts."),
}


class ApiError(Exception):
    """A failure to report to the client as a JSON error with this status."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message, headers=self.headers)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """The one JSON error shape."""
    body = json.dumps({"error": code, "message": message})
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


def json_errors(handler: Handler) -> Handler:
    """Wrap a request/response handler: ApiError and aiohttp's HTTP errors become JSON; anything
    unexpected is logged and answered with a JSON 500 (a bug, never the client's input)."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code, message = _HTTP_ERRORS.get(exc.status, ("http_error", exc.reason))
            return error_response(exc.status, code, message)
        except (ConnectionResetError, OSError):
            raise  # the peer went away mid-response; aiohttp closes the connection
        except Exception:
            return internal_error(request)

    return wrapped


def hot_path(handler: SyncHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Turn a synchronous poll-path handler into an aiohttp handler with JSON errors.

    The poll paths never await, so they run as plain functions inside this one coroutine: one coroutine per
    request instead of ``json_errors``' two, a measurable share of a 304. A try block costs nothing until
    something is raised.
    """

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return handler(request)
        except ApiError as exc:
            return exc.response()
        except Exception:
            return internal_error(request)

    return wrapped


def internal_error(request: web.Request) -> web.Response:
    """Log the exception being handled and answer a JSON 500 (a bug, never the client's input)."""
    log.exception("unexpected error in %s %s", request.method, request.path)
    return error_response(500, "internal", "The server failed unexpectedly; this is a bug.")


async def unmatched(request: web.Request) -> web.Response:
    """The catch-all route: 405 (with Allow) if the path exists under other methods, else 404."""
    allowed = sorted(
        route.method
        for resource in request.app.router.resources()
        if resource.name != UNMATCHED and resource.canonical == request.path
        for route in resource
    )
    if allowed:
        code, message = _HTTP_ERRORS[405]
        return error_response(405, code, message, headers={"Allow": ", ".join(allowed)})
    code, message = _HTTP_ERRORS[404]
    return error_response(404, code, message)
