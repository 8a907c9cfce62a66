"""API errors as JSON: every failure a client can cause is a 4xx with a code and a sentence a person
understands, ``{"error": "<code>", "message": "..."}``; client input never causes a 500."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

__all__ = ["ApiError", "error_middleware", "error_response"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# aiohttp's own HTTP exceptions (routing, body size) mapped to our codes and sentences.
_HTTP_ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "The request could not be understood."),
    404: ("not_found", "There is no such endpoint; see /openapi.json for the API."),
    405: ("method_not_allowed", "This endpoint does not accept that HTTP method."),
    413: ("payload_too_large", "The request body is larger than the 64 KiB this server accepts."),
}


class ApiError(Exception):
    """A failure to report to the client as a JSON error with this status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """The one JSON error shape."""
    body = json.dumps({"error": code, "message": message})
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn ApiError and aiohttp's HTTP errors into JSON; log and hide anything unexpected."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code, message = _HTTP_ERRORS.get(exc.status, ("http_error", exc.reason))
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(exc.status, code, message, headers)
    except (ConnectionResetError, OSError) as exc:
        # The peer went away mid-response; nothing to send. Re-raise so aiohttp closes the connection.
        log.debug("connection lost during %s %s: %s", request.method, request.path, exc)
        raise
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(500, "internal", "The server failed unexpectedly; this is a bug.")
