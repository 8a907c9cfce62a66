"""Prometheus metrics for one app: requests by route and status, response bytes, open push connections,
push deliveries, store query latency, and the process's CPU and memory.

Each app owns its ``CollectorRegistry`` (never the global one), so several apps can live in one test
process and each ``/metrics`` describes only its own traffic.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

__all__ = ["Metrics"]

QUERY_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.5,
    1.0,
)


class Metrics:
    """The app's collectors plus the middleware and handler that feed and expose them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "pollbench_http_requests",
            "HTTP requests served",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.response_bytes = Counter(
            "pollbench_http_response_bytes",
            "Response body bytes sent",
            ("route",),
            registry=self.registry,
        )
        self.open_connections = Gauge(
            "pollbench_open_push_connections", "Open push connections", ("kind",), registry=self.registry
        )
        self.deliveries = Counter(
            "pollbench_push_deliveries",
            "Messages delivered over push channels",
            ("kind",),
            registry=self.registry,
        )
        self.store_seconds = Histogram(
            "pollbench_store_query_seconds",
            "Store operation latency",
            ("op",),
            buckets=QUERY_BUCKETS,
            registry=self.registry,
        )
        # Push series exist from the start at 0, so a scrape before the first connection (a load test's
        # baseline) reads 0 rather than finding no series at all.
        for kind in ("sse", "ws"):
            self.open_connections.labels(kind)
            self.deliveries.labels(kind)
        # Label lookups cost more than the increments; the poll path is hot, so children are cached.
        self._request_children: dict[tuple[str, str, int], Counter] = {}
        self._byte_children: dict[str, Counter] = {}
        self._store_children: dict[str, Histogram] = {}

    def observe_store(self, op: str, seconds: float) -> None:
        child = self._store_children.get(op)
        if child is None:
            child = self._store_children[op] = self.store_seconds.labels(op)
        child.observe(seconds)

    def count_response(self, route: str, method: str, status: int, body_bytes: int) -> None:
        key = (route, method, status)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self.requests.labels(route, method, str(status))
        child.inc()
        if body_bytes:
            self.count_bytes(route, body_bytes)

    def count_bytes(self, route: str, body_bytes: int) -> None:
        child = self._byte_children.get(route)
        if child is None:
            child = self._byte_children[route] = self.response_bytes.labels(route)
        child.inc(body_bytes)

    async def on_response_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """Counts every response by route template (not raw path, to keep label cardinality bounded).

        A signal rather than a middleware on purpose: a middleware's coroutine frame stays alive for as long
        as its handler runs, which for an idle SSE stream or WebSocket is the whole connection, and at
        thousands of idle connections that frame is a measurable share of the memory per connection.
        """
        # Protocol-level errors (a malformed request line) are answered before routing: no match_info.
        info = request.match_info if isinstance(request, web.Request) else None
        resource = info.route.resource if info is not None else None
        route = resource.canonical if resource is not None and resource.name != "unmatched" else "unmatched"
        body = response.body if isinstance(response, web.Response) else None
        size = len(body) if isinstance(body, bytes | bytearray) else 0
        self.count_response(route, request.method, response.status, size)

    async def handle(self, request: web.Request) -> web.Response:
        """GET /metrics in the Prometheus text format."""
        resp = web.Response(body=generate_latest(self.registry))
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp
