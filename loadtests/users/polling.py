"""Polling browsers: differential polling, the seed's naive dashboard, adaptive polling, the admin panel.

- :class:`PollingUser` (``poll:T``): setInterval every T s whatever the response time. Each tick asks
  ``GET /api/orders`` with ``If-None-Match`` (mostly a 304); when an order's cursor moved it fetches
  ``GET /api/messages?orderId=X&since=CURSOR``.
- :class:`SeedDashboardUser` (``seed-dashboard:T``): the seed's ``fetchMessageCounts`` loop — the order
  list, then a full ``GET /api/messages?orderId=X`` per order, no ETag, no cursor. Kept naive on purpose
  so reports can show what differential polling saves.
- :class:`AdaptivePollingUser` (``adaptive``): the differential tick, but chained with setTimeout and an
  interval from :meth:`pollbench.strategies.Adaptive.next_interval`; hidden tabs throttled per
  :meth:`~pollbench.strategies.Adaptive.effective_interval`.
- :class:`AdminPanelUser`: the seed's admin panel, refreshing all orders every 3 s (naive, no ETag), and
  fetching the messages of orders whose cursor moved, six at a time as a browser does. Background load;
  its deliveries show in Locust as ``DELIVER admin-panel`` but are not part of any strategy's results.

setInterval ticks that overrun the interval overlap, as in a browser; a client holds at most
``--max-connections`` connections, further ticks queue for one.

A poll fails when its order list or any follow-up fetch does (refused, reset, 5xx). The receiving pollers
then retry with :class:`~loadtests.users.retry.Retry` (THE backoff policy, the user's seeded jitter) until
a poll goes through, which resets the count; setInterval ticks that fall while the client backs off are
skipped, the retry being the poll. The admin panel keeps the seed's behaviour (no retry: its next tick
is its retry), as it is background load, not a strategy under test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import gevent
from gevent.pool import Group
from gevent.pool import Pool as GreenPool
from gevent.queue import LifoQueue
from locust import task

from loadtests.recorder import parse_created_at
from loadtests.users.base import PollbenchUser, ReceiverUser
from loadtests.wire import HttpConnection
from pollbench.strategies import Adaptive, Poll, SeedDashboard
from sim.connections import ADMIN_LANES

__all__ = ["AdaptivePollingUser", "AdminPanelUser", "PollingUser", "SeedDashboardUser"]


class _Pool:
    """A browser's per-host connection pool: up to `size` keep-alive connections."""

    def __init__(self, user: PollbenchUser, size: int) -> None:
        self._idle: LifoQueue = LifoQueue()
        for _ in range(size):
            self._idle.put(user.new_connection())

    def get(self) -> HttpConnection:
        conn: HttpConnection = self._idle.get()
        return conn

    def put(self, conn: HttpConnection) -> None:
        self._idle.put(conn)

    def close(self) -> None:
        """Close the idle connections (a stopped client's sockets must not linger on the server)."""
        while not self._idle.empty():
            conn: HttpConnection = self._idle.get_nowait()
            conn.close()


class _IntervalUser(ReceiverUser):
    """A client driven by a setInterval timer: one tick every `interval_s`, ticks may overlap."""

    abstract = True
    interval_s: float = 3.0

    def on_start(self) -> None:
        super().on_start()
        self.pool = _Pool(self, self.ctx.settings.max_connections)
        self.ticks = Group()
        conn = self.pool.get()
        try:
            self.load_orders(conn)
        finally:
            self.pool.put(conn)

    def on_stop(self) -> None:
        super().on_stop()
        self.ticks.kill(block=True, timeout=1.0)  # ticks in flight hand their connection back first
        self.pool.close()

    @task
    def run_timer(self) -> None:
        # A random phase spreads clients over the interval, as real page loads are spread.
        start = time.time() + self.rng.uniform(0.0, self.interval_s)
        k = 0
        while True:
            delay = start + k * self.interval_s - time.time()
            if delay > 0:
                gevent.sleep(delay)
            self.ticks.spawn(self._tick_on_pool)
            k += 1

    def _tick_on_pool(self) -> None:
        if self.retry.pending:
            return  # backing off after a failed poll: the retry loop below is this client's poll
        conn = self.pool.get()
        try:
            if counted_poll(self, conn, self.tick) is not None:
                self.retry.succeeded()
                return
            if self.retry.pending:
                return  # an overlapping tick failed first and already backs off
            while True:
                self.retry.wait()
                if counted_poll(self, conn, self.tick) is not None:
                    self.retry.succeeded()
                    return
        finally:
            self.pool.put(conn)

    def tick(self, conn: HttpConnection) -> int | None:
        """One poll; the number of new messages it delivered, None when the poll failed."""
        raise NotImplementedError


def counted_poll(
    user: ReceiverUser, conn: HttpConnection, tick: Callable[[HttpConnection], int | None]
) -> int | None:
    """Run one poll on `conn`, counting it (and its bytes) in the user's traffic; None when it failed."""
    before = conn.sent + conn.received
    news = tick(conn)
    t = user.traffic
    t.polls += 1
    t.empty_polls += not news
    t.poll_bytes += conn.sent + conn.received - before
    return news


def differential_tick(user: ReceiverUser, conn: HttpConnection) -> int | None:
    """The ETag + since tick shared by poll:T and adaptive; None when any of its requests failed."""
    headers = dict(user.auth)
    if user.etag:
        headers["If-None-Match"] = user.etag
    resp = user.http(conn, "GET", "/api/orders", name="/api/orders", headers=headers, ok=(200, 304))
    if resp is None:
        return None
    if resp.status == 304:
        return 0
    user.etag = resp.headers.get("etag")  # at once: an overlapping tick should see a 304, not refetch
    news = 0
    for order in json.loads(resp.body)["orders"]:
        order_id = order["orderId"]
        since = user.cursors.get(order_id)
        if since is None or int(order["cursor"]) <= since:
            continue
        r = user.http(
            conn,
            "GET",
            f"/api/messages?orderId={order_id}&since={since}",
            name="/api/messages?since",
            headers=user.auth,
        )
        if r is None:
            user.etag = None  # forget the list: the retry then sees this order's cursor moved, and fetches it
            return None
        news += user.deliver_all(json.loads(r.body)["messages"])
    return news


class PollingUser(_IntervalUser):
    """poll:T — differential polling on a setInterval timer."""

    def on_start(self) -> None:
        super().on_start()
        strategy = self.ctx.settings.strategy
        assert isinstance(strategy, Poll), f"PollingUser needs a poll:T strategy, got {strategy.spec}"
        self.interval_s = strategy.interval_s

    def tick(self, conn: HttpConnection) -> int | None:
        return differential_tick(self, conn)


class SeedDashboardUser(_IntervalUser):
    """seed-dashboard:T — the seed's naive loop: order list, then every order's full message list."""

    def on_start(self) -> None:
        super().on_start()
        strategy = self.ctx.settings.strategy
        assert isinstance(strategy, SeedDashboard), (
            f"SeedDashboardUser needs seed-dashboard:T, got {strategy.spec}"
        )
        self.interval_s = strategy.interval_s

    def tick(self, conn: HttpConnection) -> int | None:
        resp = self.http(conn, "GET", "/api/orders", name="/api/orders (no etag)", headers=self.auth)
        if resp is None:
            return None
        news = 0
        for order_id in self.customer.orders:
            r = self.http(
                conn,
                "GET",
                f"/api/messages?orderId={order_id}",
                name="/api/messages (full)",
                headers=self.auth,
            )
            if r is None:
                return None
            # The full list repeats what the client already has; like the seed's badge counts,
            # only messages past the order's cursor are new.
            since = self.cursors.get(order_id, 0)
            news += self.deliver_all(m for m in json.loads(r.body)["messages"] if int(m["seq"]) > since)
        return news


class AdaptivePollingUser(ReceiverUser):
    """adaptive — differential polls chained by setTimeout, backing off while nothing happens."""

    @task
    def run_adaptive(self) -> None:
        strategy = self.ctx.settings.strategy
        assert isinstance(strategy, Adaptive), (
            f"AdaptivePollingUser needs an adaptive strategy, got {strategy.spec}"
        )
        rng = self.rng
        hidden_since = time.time() if rng.random() < self.ctx.settings.hidden_fraction else None
        conn = self.new_connection()
        self.load_orders(conn)
        interval = strategy.min_s
        gevent.sleep(rng.uniform(0.0, interval))
        while True:
            news = counted_poll(self, conn, lambda c: differential_tick(self, c))
            if news is None:
                self.retry.wait()  # setTimeout chaining: the retry replaces the next scheduled poll
                continue
            self.retry.succeeded()
            interval = strategy.next_interval(interval, got_news=news > 0)
            hidden_for = None if hidden_since is None else time.time() - hidden_since
            gevent.sleep(strategy.effective_interval(interval, hidden_for_s=hidden_for))


class AdminPanelUser(PollbenchUser):
    """The seed's admin panel: every 3 s the list of all orders, then the messages of orders that moved.

    The moved orders are fetched as a browser's ``Promise.all`` does over HTTP/1.1: at most six requests
    in flight to the origin (:data:`sim.connections.ADMIN_LANES`, the simulator's lanes), each lane taking
    the next order when its previous answer is in.
    """

    traffic_kind = "senders"  # background load: kept out of the receivers' figures
    interval_s = 3.0

    @task
    def run_panel(self) -> None:
        admins = self.ctx.fixtures.admins
        if not admins:
            raise RuntimeError("the fixtures list no admins; seed some with --admins")
        admin = admins[0]
        auth = {"Authorization": f"Bearer {admin.token}", "Accept": "application/json"}
        conns = _Pool(self, ADMIN_LANES)  # keep-alive connections, opened on first use
        lanes = GreenPool(ADMIN_LANES)
        cursors: dict[str, int] = {}
        first = True
        while True:
            started = time.time()
            conn = conns.get()
            try:
                resp = self.http(conn, "GET", "/api/orders", name="/api/orders (admin panel)", headers=auth)
            finally:
                conns.put(conn)
            for order in json.loads(resp.body)["orders"] if resp is not None else ():
                order_id, cursor = order["orderId"], int(order["cursor"])
                if not first and cursor > cursors.get(order_id, 0):
                    lanes.spawn(self._fetch_on, conns, auth, order_id, cursors.get(order_id, 0))
                cursors[order_id] = cursor
            lanes.join()
            first = False
            gevent.sleep(max(0.0, started + self.interval_s - time.time()))

    def _fetch_on(self, conns: _Pool, auth: dict[str, str], order_id: str, since: int) -> None:
        conn = conns.get()
        try:
            self._fetch(conn, auth, order_id, since)
        finally:
            conns.put(conn)

    def _fetch(self, conn: HttpConnection, auth: dict[str, str], order_id: str, since: int) -> None:
        r = self.http(
            conn, "GET", f"/api/messages?orderId={order_id}", name="/api/messages (admin panel)", headers=auth
        )
        if r is None:
            return
        now = time.time()
        for m in json.loads(r.body)["messages"]:
            if int(m["seq"]) > since:
                self.environment.events.request.fire(
                    request_type="DELIVER",
                    name="admin-panel",
                    response_time=(now - parse_created_at(m["createdAt"])) * 1000.0,
                    response_length=len(str(m.get("content", ""))),
                    exception=None,
                    context={},
                )
