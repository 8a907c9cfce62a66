"""Clients that wait for the server: long-polling, Server-Sent Events and WebSocket.

- :class:`LongPollUser` (``longpoll[:TIMEOUT]``): one ``GET /api/messages/wait?orderId=X&since=CURSOR``
  per order, each on its own connection (as a browser holds one per pending fetch), re-issued at once
  after a 200 or a 204 timeout.
- :class:`SSEUser` (``sse``): one ``GET /api/stream`` for all the client's orders, token in the query as
  an EventSource must; after a drop it reconnects with ``Last-Event-ID`` and the server replays.
- :class:`WebSocketUser` (``ws[:PING]``): one ``/ws`` connection subscribed to all orders with the
  starting cursor; it pings every PING s and resubscribes from its last ``seq`` after a drop.

All three start like a page load (``GET /api/orders``), which fixes the cursor they resume from. After a
failure or a drop they reconnect with :class:`~loadtests.users.retry.Retry` (THE backoff policy, the
user's seeded jitter): a connection that was established counts as a success, so the first reconnect
after a drop waits up to the policy's first ceiling, and each refused attempt while the server is down
doubles the ceiling up to its cap. Each long-poll loop keeps its own attempt count.
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote

import gevent
from gevent.pool import Group
from locust import task

from loadtests.sse import SseParser
from loadtests.users.base import ReceiverUser, RequestFailed
from loadtests.websocket import OP_PING, OP_TEXT, WebSocketClient
from loadtests.wire import HttpConnection, HttpError, StreamResponse
from pollbench.strategies import LongPoll, ServerSentEvents, WebSocket

__all__ = ["LongPollUser", "SSEUser", "WebSocketUser"]


class LongPollUser(ReceiverUser):
    """longpoll — a held request per order, re-issued as soon as it returns."""

    def on_stop(self) -> None:
        super().on_stop()
        if hasattr(self, "waiters"):
            self.waiters.kill(block=False)

    @task
    def run_longpoll(self) -> None:
        strategy = self.ctx.settings.strategy
        assert isinstance(strategy, LongPoll), f"LongPollUser needs a longpoll strategy, got {strategy.spec}"
        self.load_orders(self.new_connection())
        self.waiters = Group()
        for order_id in self.customer.orders:
            self.waiters.spawn(self._wait_loop, order_id, strategy.timeout_s)
        self.waiters.join()

    def _wait_loop(self, order_id: str, timeout_s: float) -> None:
        # The socket must outlast the server's hold time, or every empty wait would look like a failure.
        conn = self.new_connection(timeout=timeout_s + 15.0)
        retry = self.new_retry()
        while True:
            target = (
                f"/api/messages/wait?orderId={order_id}&since={self.cursors[order_id]}&timeout={timeout_s:g}"
            )
            before = conn.sent + conn.received
            resp = self.http(conn, "GET", target, name="/api/messages/wait", headers=self.auth, ok=(200, 204))
            t = self.traffic
            t.polls += 1
            t.poll_bytes += conn.sent + conn.received - before
            if resp is None:
                t.empty_polls += 1
                retry.wait()
                continue
            retry.succeeded()
            news = 0
            if resp.status == 200:
                data = json.loads(resp.body)
                news = self.deliver_all(data["messages"])
                self.cursors[order_id] = max(self.cursors[order_id], int(data.get("cursor", 0)))
            t.empty_polls += news == 0


class SSEUser(ReceiverUser):
    """sse — one EventSource over all the client's orders."""

    ready_on_page_load = False

    @task
    def run_sse(self) -> None:
        strategy = self.ctx.settings.strategy
        assert isinstance(strategy, ServerSentEvents), f"SSEUser needs an sse strategy, got {strategy.spec}"
        self.load_orders(self.new_connection())
        last_id = str(self.session.baseline_seq)
        orders = "&".join(f"orderId={quote(o)}" for o in self.customer.orders)
        # No byte for 3 heartbeats means the stream is dead; reconnect like EventSource would.
        idle_timeout = max(30.0, 3 * strategy.heartbeat_s)
        while True:
            conn = self.new_connection(timeout=idle_timeout)
            target = f"/api/stream?{orders}&token={quote(self.customer.token)}"
            last_id, connected = self._stream(conn, target, last_id)
            conn.close()
            if connected:
                self.retry.succeeded()
            self.retry.wait()

    def _stream(self, conn: HttpConnection, target: str, last_id: str) -> tuple[str, bool]:
        """Follow one stream until it ends; the last event id for the reconnect, and whether it connected."""
        started = time.perf_counter()
        t = self.traffic
        t.requests += 1
        self.count_first_connect()
        sent0, recv0, connects = conn.sent, conn.received, conn.connects
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache", "Last-Event-ID": last_id}
        parser = SseParser()
        connected = False
        try:
            stream = StreamResponse(conn, "GET", target, headers)
            if stream.status != 200:
                body = conn.read_body(stream.status, stream.headers)
                raise RequestFailed(f"HTTP {stream.status}: {body[:120]!r}")
            connected = True
            self.fire("GET", "/api/stream (connect)", started, 0, None)
            for data in stream.iter_data():
                t.bytes_received += conn.received - recv0
                recv0 = conn.received
                for event in parser.feed(data):
                    t.body_bytes += len(event.data)
                    if event.event == "message":
                        self.deliver(json.loads(event.data))
            raise HttpError("stream ended by the server")
        except (OSError, ValueError, RequestFailed) as exc:
            t.failures += 1
            self.fire("GET", "/api/stream", started, 0, exc)
        finally:
            t.bytes_sent += conn.sent - sent0
            t.bytes_received += conn.received - recv0
            t.connects += conn.connects - connects
        return parser.last_event_id or last_id, connected


class WebSocketUser(ReceiverUser):
    """ws — one WebSocket subscribed to all the client's orders."""

    ready_on_page_load = False

    @task
    def run_ws(self) -> None:
        strategy = self.ctx.settings.strategy
        assert isinstance(strategy, WebSocket), f"WebSocketUser needs a ws strategy, got {strategy.spec}"
        self.load_orders(self.new_connection())
        since = self.session.baseline_seq
        while True:
            since, connected = self._session(strategy.ping_s, since)
            if connected:
                self.retry.succeeded()
            self.retry.wait()

    def _session(self, ping_s: float, since: int) -> tuple[int, bool]:
        """One WebSocket connection until it drops; the seq to resume from, and whether it connected."""
        conn = self.new_connection(timeout=max(60.0, 3 * ping_s))
        ws = WebSocketClient(conn)
        t = self.traffic
        t.requests += 1
        self.count_first_connect()
        sent0, recv0, connects = conn.sent, conn.received, conn.connects
        started = time.perf_counter()
        pinger = None
        connected = False
        try:
            ws.handshake(f"/ws?token={quote(self.customer.token)}")
            subscribe = {"type": "subscribe", "orderIds": list(self.customer.orders), "since": since}
            ws.send_text(json.dumps(subscribe))
            connected = True
            self.fire("GET", "/ws (connect)", started, 0, None)
            pinger = gevent.spawn(self._ping_loop, ws, ping_s)
            while True:
                frame = ws.receive()
                t.bytes_received += conn.received - recv0
                recv0 = conn.received
                if frame.opcode != OP_TEXT:
                    continue
                t.body_bytes += len(frame.payload)
                msg = json.loads(frame.payload)
                if msg.get("type") == "message":
                    self.deliver(msg["message"])
                    since = max(since, int(msg["message"]["seq"]))
                elif msg.get("type") == "error":
                    raise RequestFailed(f"server error on the WebSocket: {msg}")
        except (OSError, ValueError, RequestFailed) as exc:
            t.failures += 1
            self.fire("GET", "/ws", started, 0, exc)
        finally:
            if pinger is not None:
                pinger.kill(block=False)
            ws.close()
            t.bytes_sent += conn.sent - sent0
            t.bytes_received += conn.received - recv0
            t.connects += conn.connects - connects
        return since, connected

    @staticmethod
    def _ping_loop(ws: WebSocketClient, ping_s: float) -> None:
        try:
            while True:
                gevent.sleep(ping_s)
                ws.send(OP_PING, b"")
        except OSError:
            return  # the reader notices the broken connection and reports it
