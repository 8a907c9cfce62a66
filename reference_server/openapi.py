"""The OpenAPI 3.1 description of the API, served at ``/openapi.json``.

Written by hand (the API is small and its words matter) and kept honest by a test that compares its
paths and methods with the app's router.
"""

from __future__ import annotations

from typing import Any

from reference_server.config import MAX_CONTENT_CHARS

__all__ = ["openapi_document"]

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    words = {
        400: "Malformed JSON, a missing or invalid field, empty or over-long content, bad since/timeout, "
        "a parameter given twice (ambiguous), or a request that is not valid HTTP.",
        401: "Missing, invalid or expired bearer token.",
        403: "The order belongs to another customer.",
        404: "Unknown order.",
        408: "The request body did not arrive in time (Content-Length promised more than was sent).",
        409: "The clientMessageId was already used by this sender in this order for a different message.",
        413: "Request body over 64 KiB (announced by Content-Length or read).",
        503: "Overloaded: the server holds its maximum of push connections (--max-connections). "
        "Retry after the Retry-After seconds; connections already open keep working.",
    }
    responses = {str(s): _json(_ref("Error"), words[s]) for s in statuses}
    if 503 in statuses:
        responses["503"]["headers"] = RETRY_AFTER
    return responses


RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    }
}

# Refused by the HTTP parser before routing, so any operation can answer them (see protocol.py).
PROTOCOL_ERRORS = {
    "400": _json(_ref("Error"), "Not valid HTTP/1.1 (bad request line, header or body framing)."),
    "414": _json(_ref("Error"), "URL (path and query) over 8 KiB."),
    "431": _json(_ref("Error"), "A header over 8190 bytes, or more than 128 headers."),
}


def _query(
    name: str, schema: dict[str, Any], description: str, *, required: bool = False, explode: bool = False
) -> dict[str, Any]:
    param = {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema,
        "description": description,
    }
    if explode:
        param["explode"] = True
    return param


ORDER_ID_SCHEMA = {"type": "string", "minLength": 1}
MAX_SEQ = 10**18 - 1
"""The server reads a cursor of at most 18 digits."""
SEQ = {"type": "integer", "minimum": 0, "maximum": MAX_SEQ}
ORDER_ID = _query("orderId", ORDER_ID_SCHEMA, "The order whose conversation is meant.", required=True)
SINCE = _query("since", SEQ, "Return only messages with seq greater than this.")
ETAG = {
    "ETag": {
        "description": "Strong validator; send it back as If-None-Match.",
        "schema": {"type": "string"},
    }
}
CONTENT = {"type": "string", "minLength": 1, "maxLength": MAX_CONTENT_CHARS, "pattern": r"\S"}
"""Message text: 1..4 000 characters, not all whitespace."""
_NONZERO_FRACTION = "|".join(f"0{{{k}}}[1-9][0-9]{{0,{8 - k}}}" for k in range(9))
TIMEOUT_PATTERN = (
    "^(?:(?:0{0,5}[1-9]|0{0,4}[1-5][0-9])(?:[.][0-9]{1,9})?"  # 1 to 59.999999999
    f"|0{{0,6}}[.](?:{_NONZERO_FRACTION})"  # 0.000000001 to 0.999999999
    "|0{0,4}60(?:[.]0{1,9})?)$"  # 60
)
"""Exactly the long-poll timeouts the server takes (reference_server.params.parse_timeout): plain decimals in
(0, 60]. A string, because JSON Schema cannot say how a number is written, and the server refuses 1e1."""
IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
}

SCHEMAS: dict[str, Any] = {
    "Message": {
        "type": "object",
        "required": [
            "_id",
            "orderId",
            "senderType",
            "senderName",
            "content",
            "isRead",
            "createdAt",
            "seq",
        ],
        "properties": {
            "_id": {"type": "string"},
            "orderId": {"type": "string"},
            "senderType": {"enum": ["customer", "admin"]},
            "senderName": {"type": "string"},
            "content": {"type": "string", "minLength": 1, "maxLength": 4000},
            "isRead": {"type": "boolean"},
            "createdAt": {
                "type": "string",
                "format": "date-time",
                "examples": ["2026-11-26T10:00:00.123Z"],
            },
            "seq": {"type": "integer", "description": "Store-wide commit order; the resumption cursor."},
        },
    },
    "MessageList": {
        "type": "object",
        "required": ["messages", "unread", "cursor"],
        "properties": {
            "messages": {"type": "array", "items": _ref("Message")},
            "unread": {"type": "integer", "description": "Unread messages from the other party."},
            "cursor": {"type": "integer", "description": "Highest seq in the order."},
        },
    },
    "OrderSummary": {
        "type": "object",
        "required": ["orderId", "total", "unread", "cursor"],
        "properties": {
            "orderId": {"type": "string"},
            "total": {"type": "integer", "description": "Messages from the other party."},
            "unread": {"type": "integer", "description": "Unread messages from the other party."},
            "cursor": {"type": "integer"},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    },
}

PATHS: dict[str, Any] = {
    "/api/messages": {
        "get": {
            "summary": "A conversation (the seed's polling endpoint); since for deltas, ETag for 304s.",
            "parameters": [ORDER_ID, SINCE, IF_NONE_MATCH],
            "responses": {
                "200": {**_json(_ref("MessageList"), "Messages in ascending seq."), "headers": ETAG},
                "304": {"description": "Not modified since the ETag in If-None-Match."},
                **_errors(400, 401, 403, 404),
            },
        },
        "post": {
            "summary": "Post a message; sender type and name come from the token.",
            "requestBody": {
                "required": True,
                "content": {
                    JSON: {
                        "schema": {
                            "type": "object",
                            "required": ["orderId", "content"],
                            "properties": {
                                "orderId": ORDER_ID_SCHEMA,
                                "content": CONTENT,
                                "clientMessageId": {
                                    "type": "string",
                                    "pattern": "^[A-Za-z0-9._:-]{1,64}$",
                                    "description": "Idempotency key: a retry with the same key (same sender "
                                    "and order) returns the message already stored instead of a copy.",
                                },
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": {
                    **_json(
                        {"type": "object", "properties": {"message": _ref("Message")}}, "Committed to disk."
                    ),
                    "headers": {
                        "Idempotent-Replayed": {
                            "description": "true when a clientMessageId was seen before: the stored message.",
                            "schema": {"type": "string", "enum": ["true"]},
                        }
                    },
                },
                **_errors(400, 401, 403, 404, 408, 409, 413),
            },
        },
        "put": {
            "summary": "Mark the other party's messages in an order read.",
            "requestBody": {
                "required": True,
                "content": {
                    JSON: {
                        "schema": {
                            "type": "object",
                            "required": ["orderId"],
                            "properties": {"orderId": ORDER_ID_SCHEMA},
                        }
                    }
                },
            },
            "responses": {
                "200": _json({"type": "object", "properties": {"updated": {"type": "integer"}}}, "How many."),
                **_errors(400, 401, 403, 404, 408, 413),
            },
        },
    },
    "/api/orders": {
        "get": {
            "summary": "All the caller's orders with badge counts, in one response (admins: all orders).",
            "parameters": [IF_NONE_MATCH],
            "responses": {
                "200": {
                    **_json(
                        {
                            "type": "object",
                            "properties": {"orders": {"type": "array", "items": _ref("OrderSummary")}},
                        },
                        "Orders.",
                    ),
                    "headers": ETAG,
                },
                "304": {"description": "Not modified."},
                **_errors(401),
            },
        },
    },
    "/api/messages/wait": {
        "get": {
            "summary": "Long-poll: held until a message with seq > since is committed, or the timeout.",
            "parameters": [
                ORDER_ID,
                SINCE,
                _query(
                    "timeout",
                    {
                        "type": "string",
                        "pattern": TIMEOUT_PATTERN,
                        "default": "30",
                        "examples": ["25", "0.5"],
                    },
                    "Seconds to hold the request, more than 0 and at most 60, written as a plain decimal "
                    "(at most 6 integer and 9 fraction digits, no sign or exponent).",
                ),
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "messages": {"type": "array", "items": _ref("Message")},
                            "cursor": {"type": "integer"},
                        },
                    },
                    "New messages.",
                ),
                "204": {"description": "Nothing new before the timeout."},
                **_errors(400, 401, 403, 404, 503),
            },
        },
    },
    "/api/stream": {
        "get": {
            "summary": "Server-Sent Events: id: <seq>, event: message, data: <Message JSON>; resumes from "
            "Last-Event-ID or since; comment heartbeats.",
            "parameters": [
                _query(
                    "orderId",
                    {"type": "array", "items": ORDER_ID_SCHEMA},
                    "Orders to watch (repeat the parameter); none means all the caller's orders.",
                    explode=True,
                ),
                SINCE,
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "pattern": "^([0-9]{1,18})?$"},
                    "description": "The last seq the client holds (EventSource resends its last id); "
                    "empty means none.",
                },
            ],
            "responses": {
                "200": {"description": "An endless event stream.", "content": {"text/event-stream": {}}},
                **_errors(400, 401, 403, 404, 503),
            },
        },
    },
    "/ws": {
        "get": {
            "summary": 'WebSocket. Send {"type":"subscribe","orderIds":[...],"since":SEQ}; receive '
            '{"type":"subscribed"}, replayed and live {"type":"message","message":{...}}, and '
            '{"type":"error"} for forbidden or unknown orders.',
            "responses": {
                "101": {"description": "Switching protocols."},
                "400": _json(_ref("Error"), "Not a WebSocket upgrade (a plain GET), or ?token= given twice."),
                **_errors(401, 503),
            },
        },
    },
    "/healthz": {
        "get": {
            "summary": "Liveness: the database answers.",
            "responses": {
                "200": {"description": "Healthy."},
                "503": _json(_ref("Error"), "The database is unreachable."),
            },
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics.",
            "responses": {"200": {"description": "Text exposition format.", "content": {"text/plain": {}}}},
        }
    },
    "/openapi.json": {
        "get": {"summary": "This document.", "responses": {"200": {"description": "OpenAPI 3.1."}}}
    },
    "/bench/noop": {
        "get": {
            "summary": "Trivial handler, no auth and no database: the benchmark's ceiling.",
            "responses": {"200": _json({"type": "object"}, '{"ok": true}')},
        }
    },
}

PUBLIC = ("/healthz", "/metrics", "/openapi.json", "/bench/noop")
QUERY_TOKEN = ("/api/stream", "/ws")
"""Push endpoints also take ``?token=``: EventSource and browser WebSockets cannot set headers."""


def _security(path: str) -> list[dict[str, list[str]]]:
    if path in PUBLIC:
        return []
    if path in QUERY_TOKEN:
        return [{"bearer": []}, {"queryToken": []}]
    return [{"bearer": []}]


def openapi_document() -> dict[str, Any]:
    """The full document (a fresh copy each call)."""
    paths = {}
    for path, item in PATHS.items():
        paths[path] = {
            method: {**op, "responses": {**PROTOCOL_ERRORS, **op["responses"]}, "security": _security(path)}
            for method, op in item.items()
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pollbench reference messaging server",
            "version": "1.0.0",
            "description": "The seed's order chat API with poll, long-poll, SSE and WebSocket delivery.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "queryToken": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "token",
                    "description": "The bearer token as ?token=, for clients that cannot set headers.",
                },
            },
        },
    }
