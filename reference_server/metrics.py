"""Prometheus metrics for one app: requests by route and status, response bytes, open push connections,
push deliveries, store query latency, and the process's CPU and memory.

Each app owns its ``CollectorRegistry`` (never the global one), so several apps can live in one test
process and each ``/metrics`` describes only its own traffic.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric

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
        # Requests and response bytes are counted in plain ints, on the event loop, and turned into counters
        # only when /metrics is scraped: a prometheus-client child's inc() takes a lock and costs ~0.3 µs,
        # twice per response, on every route.
        self._requests: dict[tuple[str, str, int], int] = {}
        self._bytes: dict[str, int] = {}
        self._created: dict[object, float] = {}  # when each series first counted, for the *_created samples
        self._route_labels: dict[AbstractRoute, str] = {}
        self.registry.register(self)  # see collect()
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
        # Label lookups cost more than the observations, so children are cached.
        self._store_children: dict[str, Histogram] = {}

    def observe_store(self, op: str, seconds: float) -> None:
        child = self._store_children.get(op)
        if child is None:
            child = self._store_children[op] = self.store_seconds.labels(op)
        child.observe(seconds)

    def count_response(self, route: str, method: str, status: int, body_bytes: int) -> None:
        key = (route, method, status)
        try:
            self._requests[key] += 1
        except KeyError:
            self._created[key] = time.time()
            self._requests[key] = 1
        if body_bytes:
            self.count_bytes(route, body_bytes)

    def count_bytes(self, route: str, body_bytes: int) -> None:
        try:
            self._bytes[route] += body_bytes
        except KeyError:
            self._created[route] = time.time()
            self._bytes[route] = body_bytes

    async def on_response_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """Counts every response by route template (not raw path, to keep label cardinality bounded).

        A signal rather than a middleware on purpose: a middleware's coroutine frame stays alive for as long
        as its handler runs, which for an idle SSE stream or WebSocket is the whole connection, and at
        thousands of idle connections that frame is a measurable share of the memory per connection.
        """
        # Protocol-level errors (a malformed request line) are answered before routing: no match_info.
        info = request.match_info if isinstance(request, web.Request) else None
        if info is None:
            route = "unmatched"
        else:
            route = self._route_labels.get(info.route) or self._route_label(info.route)
        body = response.body if isinstance(response, web.Response) else None
        size = len(body) if isinstance(body, bytes | bytearray) else 0
        self.count_response(route, request.method, response.status, size)

    def _route_label(self, route: AbstractRoute) -> str:
        """The route template a route answers (routes are few and fixed, so labels are cached by route)."""
        resource = route.resource
        if resource is None:  # aiohttp's per-request system route for a routing error: not cached
            return "unmatched"
        label = resource.canonical if resource.name != "unmatched" else "unmatched"
        self._route_labels[route] = label
        return label

    def collect(self) -> Iterator[Metric]:
        """The plain-int counts as the ``pollbench_http_requests`` and ``pollbench_http_response_bytes``
        counters, the same series prometheus-client's own counters would expose (called at scrape time)."""
        requests = CounterMetricFamily(
            "pollbench_http_requests", "HTTP requests served", labels=("route", "method", "status")
        )
        for key, value in list(self._requests.items()):
            route, method, status = key
            requests.add_metric((route, method, str(status)), value, created=self._created.get(key))
        yield requests
        sent = CounterMetricFamily(
            "pollbench_http_response_bytes", "Response body bytes sent", labels=("route",)
        )
        for route, value in list(self._bytes.items()):
            sent.add_metric((route,), value, created=self._created.get(route))
        yield sent

    async def handle(self, request: web.Request) -> web.Response:
        """GET /metrics in the Prometheus text format."""
        resp = web.Response(body=generate_latest(self.registry))
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp
