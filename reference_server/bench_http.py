"""The request shapes the server benchmark drives with wrk, built from the server's fixtures file.

Each shape is checked once with a plain HTTP request before wrk sees it, because wrk counts a 304 and a 200
alike (and a 401 only as a "non-2xx"): without the check, a poll that silently stopped hitting its fast path
would still produce a handsome requests/s figure.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

__all__ = ["RequestShape", "ShapeError", "build_shapes", "check_shape", "fetch", "push_targets"]


class ShapeError(RuntimeError):
    """The server answered a benchmark request differently from what the API promises."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestShape:
    """One request, repeated by wrk."""

    key: str
    """(a)..(e), the letter the issue uses."""
    name: str
    """short name for tables and JSON."""
    label: str
    """what it is, in a few words."""
    path: str
    """path and query."""
    headers: Mapping[str, str]
    """request headers (auth, If-None-Match)."""
    status: int
    """the status the server must answer."""
    min_ratio: float | None
    """target: at least this fraction of (a)'s requests/s; None = no target."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "name": self.name, "label": self.label, "path": self.path,
            "status": self.status, "min_ratio": self.min_ratio,
        }  # fmt: skip


def fetch(base_url: str, path: str, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
    """One GET on a fresh connection: status, headers (lower-cased names) and body; 10 s timeout."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=10.0)
    try:
        conn.request("GET", path, headers=dict(headers))
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def _first_customer(fixtures: Mapping[str, Any]) -> tuple[str, str, int]:
    for customer in fixtures.get("customers", []):
        if len(customer.get("orders", [])) == 3:
            return str(customer["token"]), str(customer["orders"][0]), len(customer["orders"])
    raise ShapeError("the fixtures file lists no customer with 3 orders (shape (e) needs one)")


def build_shapes(fixtures: Mapping[str, Any]) -> tuple[RequestShape, ...]:
    """Shapes (a)..(e) for the first customer with 3 orders, with the live ETag and cursor."""
    base_url = str(fixtures["base_url"])
    token, order, _ = _first_customer(fixtures)
    auth = {"Authorization": f"Bearer {token}"}
    full_path = "/api/messages?" + urlencode({"orderId": order})
    status, headers, body = fetch(base_url, full_path, auth)
    if status != 200 or "etag" not in headers:
        raise ShapeError(f"GET {full_path} answered {status} (headers {headers}); expected 200 with an ETag")
    cursor = int(json.loads(body)["cursor"])
    since_path = "/api/messages?" + urlencode({"orderId": order, "since": cursor})
    return (
        RequestShape(key="a", name="noop", label="GET /bench/noop (ceiling)", path="/bench/noop",
                     headers={}, status=200, min_ratio=None),
        RequestShape(key="b", name="poll-304", label="poll, ETag matches -> 304", path=full_path,
                     headers={**auth, "If-None-Match": headers["etag"]}, status=304, min_ratio=0.85),
        RequestShape(key="c", name="poll-since", label="poll since cursor, nothing new", path=since_path,
                     headers=auth, status=200, min_ratio=0.85),
        RequestShape(key="d", name="poll-full", label=f"full poll ({len(body):,} B body)", path=full_path,
                     headers=auth, status=200, min_ratio=0.5),
        RequestShape(key="e", name="orders", label="GET /api/orders (3 orders)", path="/api/orders",
                     headers=auth, status=200, min_ratio=None),
    )  # fmt: skip


def check_shape(base_url: str, shape: RequestShape) -> int:
    """Send ``shape`` once; raise :class:`ShapeError` unless the server answers as promised. Returns the
    body size."""
    status, _headers, body = fetch(base_url, shape.path, shape.headers)
    if status != shape.status:
        raise ShapeError(
            f"({shape.key}) {shape.name}: GET {shape.path} answered {status}, expected {shape.status}: "
            f"{body[:200]!r}"
        )
    if shape.name == "poll-since" and json.loads(body).get("messages") != []:
        raise ShapeError(f"({shape.key}) since-poll returned messages; expected none: {body[:200]!r}")
    if shape.name == "orders" and len(json.loads(body).get("orders", [])) != 3:
        raise ShapeError(f"({shape.key}) GET /api/orders did not list 3 orders: {body[:200]!r}")
    return len(body)


def push_targets(base_url: str, fixtures: Mapping[str, Any], path: Path) -> Path:
    """Write every (customer token, order, current cursor) to ``path`` for the subscriber crowd."""
    targets = []
    for customer in fixtures.get("customers", []):
        auth = {"Authorization": f"Bearer {customer['token']}"}
        for order in customer.get("orders", []):
            status, _h, body = fetch(base_url, "/api/messages?" + urlencode({"orderId": order}), auth)
            if status != 200:
                raise ShapeError(f"GET /api/messages for order {order} answered {status}: {body[:200]!r}")
            cursor = int(json.loads(body)["cursor"])
            targets.append({"token": customer["token"], "orderId": order, "since": cursor})
    if not targets:
        raise ShapeError("the fixtures file lists no customer orders to subscribe to")
    path.write_text(json.dumps(targets))
    return path
