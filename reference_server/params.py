"""Reading what a client sent: query parameters, JSON bodies and which order it may touch.

Every check raises ``ApiError`` with a sentence saying what was wrong, so bad input is a 4xx, never a 500.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Iterable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from multidict import MultiMapping

from reference_server.auth import Principal
from reference_server.config import MAX_BODY_BYTES, MAX_CONTENT_CHARS
from reference_server.errors import ApiError
from reference_server.state import STATE, ServerState

__all__ = [
    "MAX_SEQ",
    "authorize_order",
    "parse_since",
    "parse_timeout",
    "query_order_id",
    "read_json_object",
    "reject_repeats",
    "require_str",
    "valid_content",
]


MAX_SEQ = 2**63 - 1
"""Largest seq a cursor can name (SQLite's INTEGER range); 18 digits always fit, so longer is refused."""

_DECIMAL = re.compile(r"(?=.)[0-9]{0,6}(\.[0-9]{1,9})?")


def parse_since(raw: str | None) -> int | None:
    """``since`` as a non-negative integer seq, or None if absent."""
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:  # isdigit alone takes '５' and '²'
        raise ApiError(400, "invalid_since", f"'since' must be a non-negative integer seq, got {raw[:40]!r}.")
    return int(raw)


def parse_timeout(raw: str | None, *, default: float, maximum: float) -> float:
    """Long-poll ``timeout`` in seconds (fractions allowed), 0 < t <= maximum."""
    if raw is None:
        return default
    # Plain ASCII decimals only: float() alone also takes '1_0', ' 5 ', '５' and '1e1'.
    value = float(raw) if _DECIMAL.fullmatch(raw) else math.nan
    if not (0 < value <= maximum):
        raise ApiError(
            400,
            "invalid_timeout",
            f"'timeout' must be a number of seconds in (0, {maximum:g}], got {raw[:40]!r}.",
        )
    return value


def require_str(data: dict[str, Any], key: str) -> str:
    """A required, non-empty string field of a JSON body."""
    if key not in data:
        raise ApiError(400, "missing_field", f"The JSON body needs a '{key}' field.")
    value = data[key]
    if not isinstance(value, str) or not value:
        raise ApiError(400, "invalid_field", f"'{key}' must be a non-empty string.")
    return value


CLIENT_MESSAGE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
"""An idempotency key: 1 to 64 letters, digits or ``.``, ``_``, ``:``, ``-`` (a UUID fits)."""


def client_message_id(data: dict[str, Any]) -> str | None:
    """The optional ``clientMessageId`` of a POST: the client's key for one logical message."""
    value = data.get("clientMessageId")
    if value is None:
        return None
    if not isinstance(value, str) or CLIENT_MESSAGE_ID.fullmatch(value) is None:
        raise ApiError(
            400,
            "invalid_field",
            "'clientMessageId' must be 1 to 64 letters, digits, '.', '_', ':' or '-' (a UUID fits).",
        )
    return value


def valid_content(data: dict[str, Any]) -> str:
    """Message text: present, a string, not blank, at most 4 000 characters."""
    if "content" not in data:
        raise ApiError(400, "missing_field", "The JSON body needs a 'content' field.")
    content = data["content"]
    if not isinstance(content, str):
        raise ApiError(400, "invalid_field", "'content' must be a string.")
    if not content.strip():
        raise ApiError(400, "empty_content", "A message cannot be empty.")
    if not content.isascii():
        try:  # JSON's \ud800 escapes decode to lone surrogates, which no store or wire encoding can hold
            content.encode("utf-8")
        except UnicodeEncodeError:
            message = "'content' must be Unicode text (no lone surrogates)."
            raise ApiError(400, "invalid_field", message) from None
    if len(content) > MAX_CONTENT_CHARS:
        raise ApiError(
            400,
            "content_too_long",
            f"A message can hold at most {MAX_CONTENT_CHARS} characters; this one has {len(content)}.",
        )
    return content


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object.

    413 up front when Content-Length announces more than 64 KiB (nothing is read), and from aiohttp's
    ``client_max_size`` when a chunked body grows past it; 408 when the body does not arrive within
    ``body_timeout_s`` (a Content-Length promising more than is sent); 400 when the body breaks off.
    """
    timeout_s = request.app[STATE].config.body_timeout_s
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=request.content_length)
    try:
        async with asyncio.timeout(timeout_s):
            raw = await request.read()
    except TimeoutError:
        message = f"The request body did not arrive within {timeout_s:g} s; its Content-Length may be wrong."
        raise ApiError(408, "request_timeout", message) from None
    except RequestPayloadError:
        raise ApiError(400, "bad_request", "The request body broke off or is not validly encoded.") from None
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):  # nesting beyond the parser's recursion limit
        raise ApiError(400, "malformed_json", "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "malformed_json", "The request body must be a JSON object.")
    return data


def authorize_order(state: ServerState, principal: Principal, order_id: str) -> None:
    """404 if the order does not exist, 403 if it is not the caller's."""
    owner = state.book.orders.get(order_id)
    if owner is None:
        raise ApiError(404, "order_not_found", f"There is no order {order_id[:64]!r}.")
    if principal.role != "admin" and owner.customer_id != principal.id:
        raise ApiError(403, "forbidden", "That order belongs to another customer.")


def reject_repeats(query: MultiMapping[str], *, repeatable: Iterable[str] = ()) -> None:
    """400 ``ambiguous`` if a parameter that takes one value is given more than once (rather than
    silently using the first, which a client that sent two can only have meant by mistake)."""
    if len(query) < 2 or len({*query}) == len(query):  # iterating a MultiDict yields every key
        return
    for key in query:
        if key not in repeatable and len(query.getall(key)) > 1:
            raise ApiError(400, "ambiguous", f"The query gives {key[:40]!r} more than once; give it once.")


def query_order_id(request: web.Request) -> str:
    """The required ``orderId`` query parameter (and no parameter repeated: this runs on every poll)."""
    query = request.query
    if len(query) > 1 and len({*query}) != len(query):  # inline: ~0.25 us on a poll, no call when clean
        reject_repeats(query)
    order_id = query.get("orderId")
    if not order_id:
        raise ApiError(400, "missing_field", "The query needs an 'orderId' parameter.")
    return order_id
