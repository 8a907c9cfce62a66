"""What every pollbench Locust user shares: a customer identity, counted HTTP, and Locust events.

Every HTTP exchange goes through :meth:`PollbenchUser.http`, which times it, counts its wire bytes into
the process's traffic counters and fires Locust's ``request`` event (so it shows in Locust's web UI,
CSV and HTML). Every message a receiving client obtains goes through :meth:`ReceiverUser.deliver`, which
records it exactly and fires a ``DELIVER`` event named after the strategy, its response time being the
delivery latency.

Every retry goes through :class:`~loadtests.users.retry.Retry` with THE policy
(:data:`pollbench.reconnect.DEFAULT_BACKOFF`, capped exponential with full jitter), jitter drawn from the
user's own seeded stream: a page load that fails, a failed poll, a dropped long-poll, stream or WebSocket.

Runs inside Locust only (gevent-patched sockets).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import gevent
from locust import User, constant

from loadtests.context import LoadContext, current_context
from loadtests.fixtures import Customer
from loadtests.recorder import Session, Traffic, parse_created_at
from loadtests.users.retry import Retry, client_rng
from loadtests.wire import HttpConnection, Response
from pollbench.reconnect import DEFAULT_BACKOFF, Backoff

__all__ = ["PollbenchUser", "ReceiverUser", "RequestFailed"]


class RequestFailed(Exception):
    """A request that did not get the status it should have; reported to Locust as a failure."""


class PollbenchUser(User):
    """Base of all pollbench users: one process-wide context, counted HTTP exchanges."""

    abstract = True
    wait_time = constant(0)
    traffic_kind: ClassVar[str] = "receivers"

    ctx: LoadContext
    traffic: Traffic

    def on_start(self) -> None:
        self.ctx = current_context()
        self.traffic = getattr(self.ctx.recorder, self.traffic_kind)

    def new_connection(self, timeout: float = 30.0) -> HttpConnection:
        return HttpConnection(self.ctx.host, self.ctx.port, timeout=timeout)

    def fire(self, request_type: str, name: str, started: float, length: int, exc: Exception | None) -> None:
        self.environment.events.request.fire(
            request_type=request_type,
            name=name,
            response_time=(time.perf_counter() - started) * 1000.0,
            response_length=length,
            exception=exc,
            context={},
        )

    def http(
        self,
        conn: HttpConnection,
        method: str,
        target: str,
        *,
        name: str,
        headers: Mapping[str, str],
        ok: Iterable[int] = (200,),
        body: bytes | None = None,
    ) -> Response | None:
        """One counted, timed exchange; None (after reporting a failure) when it did not succeed."""
        started = time.perf_counter()
        connects = conn.connects
        sent0, recv0 = conn.sent, conn.received
        self.traffic.requests += 1
        try:
            resp = conn.request(method, target, headers, body)
        except (OSError, ValueError) as exc:
            conn.close()
            self._count(conn, sent0, recv0, connects, 0)
            self.traffic.failures += 1
            self.fire(method, name, started, 0, exc)
            return None
        self._count(conn, sent0, recv0, connects, len(resp.body) + len(body or b""))
        if resp.status not in ok:
            self.traffic.failures += 1
            self.fire(
                method,
                name,
                started,
                len(resp.body),
                RequestFailed(f"HTTP {resp.status}: {resp.body[:120]!r}"),
            )
            return None
        self.fire(method, name, started, len(resp.body), None)
        return resp

    def _count(self, conn: HttpConnection, sent0: int, recv0: int, connects: int, body: int) -> None:
        t = self.traffic
        t.bytes_sent += conn.sent - sent0
        t.bytes_received += conn.received - recv0
        t.body_bytes += body
        t.connects += conn.connects - connects


class ReceiverUser(PollbenchUser):
    """A customer's browser tab receiving its orders' messages by one strategy."""

    abstract = True
    backoff: ClassVar[Backoff] = DEFAULT_BACKOFF
    """Retry policy of every failed request and dropped connection (no CLI flag: the shared default)."""
    ready_on_page_load: ClassVar[bool] = True
    """A client is receiving once its page load answered (pollers, long-poll); push clients once their
    stream first connected (they set this False)."""

    customer: Customer
    session: Session
    cursors: dict[str, int]
    etag: str | None
    _connected_once: bool

    def on_start(self) -> None:
        super().on_start()
        self.index, self.customer = self.ctx.next_receiver()
        self.rng = client_rng(self.ctx.settings.seed, self.index)
        self.retry = self.new_retry()
        self.auth = {"Authorization": f"Bearer {self.customer.token}", "Accept": "application/json"}
        self.cursors = dict.fromkeys(self.customer.orders, 0)
        self.etag = None
        self._connected_once = False
        self._ready = False
        self.session = self.ctx.recorder.start_session(self.customer.id, self.customer.orders, 0, time.time())
        self.ctx.register_receiver(self.customer)

    def on_stop(self) -> None:
        # Stopped by the shape (a knee search stepping down): senders stop posting into its orders.
        self.ctx.unregister_receiver(self.customer)
        if self._ready:
            self.ctx.recorder.ready -= 1

    def mark_ready(self) -> None:
        """This client now receives (counted once): a knee search judges a probe only once all are."""
        if not self._ready:
            self._ready = True
            self.ctx.recorder.ready += 1

    def new_retry(self) -> Retry:
        """A retry loop of this client: its own attempt counter, the client's jitter stream."""
        return Retry(self.rng, gevent.sleep, self.backoff)

    def count_first_connect(self) -> None:
        """Count a push client's first stream connect as setup (its reconnects are steady load)."""
        if not self._connected_once:
            self._connected_once = True
            self.traffic.setup_requests += 1
            self.mark_ready()

    def load_orders(self, conn: HttpConnection) -> bool:
        """The page load: the order list with each order's cursor, which becomes the starting point."""
        while True:
            self.traffic.setup_requests += 1
            resp = self.http(conn, "GET", "/api/orders", name="/api/orders (page load)", headers=self.auth)
            if resp is not None:
                break
            self.retry.wait()  # server not reachable yet: back off like a page retrying its first fetch
        self.retry.succeeded()
        self.etag = resp.headers.get("etag")
        for order in json.loads(resp.body)["orders"]:
            if order["orderId"] in self.cursors:
                self.cursors[order["orderId"]] = int(order["cursor"])
        baseline = max(self.cursors.values(), default=0)
        self.session.baseline_seq = baseline
        self.session.started_at = time.time()
        if self.ready_on_page_load:
            self.mark_ready()
        return True

    def deliver(self, message: Mapping[str, Any]) -> bool:
        """Record one received message; True when it was new to this client."""
        received_at = time.time()
        order_id = str(message["orderId"])
        seq = int(message["seq"])
        if seq <= self.session.baseline_seq:
            return False  # committed before this client started: history, not a delivery
        created_at = parse_created_at(message["createdAt"])
        new = self.ctx.recorder.delivered(self.session, order_id, seq, created_at, received_at)
        if new:
            self.environment.events.request.fire(
                request_type="DELIVER",
                name=self.ctx.settings.strategy.spec,
                response_time=(received_at - created_at) * 1000.0,
                response_length=len(str(message.get("content", ""))),
                exception=None,
                context={},
            )
        if seq > self.cursors.get(order_id, 0):
            self.cursors[order_id] = seq
        return new

    def deliver_all(self, messages: Iterable[Mapping[str, Any]]) -> int:
        return sum(1 for m in messages if self.deliver(m))
