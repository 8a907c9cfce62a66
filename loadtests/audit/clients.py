"""The audit's receivers: one customer's client per delivery strategy, written the way a careful web client
would be, over real HTTP, SSE and WebSocket connections (aiohttp; never Locust).

Each receiver watches all of its customer's orders and hands what arrives to its :class:`Inbox` (which
de-duplicates by seq). When a request fails or a stream drops, as it does every time the audit kills the
server, it waits as :mod:`pollbench.reconnect` says (capped exponential backoff, full jitter) and resumes
from what it holds:

- ``poll`` / ``adaptive``: ``GET /api/orders`` with ``If-None-Match``, then ``GET /api/messages?since=CURSOR``
  for each order whose cursor moved; the interval is the strategy's (adaptive grows it on empty polls);
- ``seed-dashboard``: the seed's naive loop, the order list then every order's full conversation;
- ``longpoll``: one ``GET /api/messages/wait?since=CURSOR`` per order, re-issued at once;
- ``sse``: one ``/api/stream`` for all orders, resumed with ``Last-Event-ID``;
- ``ws``: one ``/ws``, resubscribed with ``since``.
"""

from __future__ import annotations

import asyncio
import json
import random
from abc import ABC, abstractmethod
from collections import Counter
from typing import Any

import aiohttp

from loadtests.audit.inbox import Inbox
from loadtests.sse import SseParser
from pollbench.reconnect import Backoff
from pollbench.strategies import (
    Adaptive,
    LongPoll,
    Poll,
    SeedDashboard,
    ServerSentEvents,
    Strategy,
    WebSocket,
)

__all__ = [
    "RETRYABLE",
    "LongPollReceiver",
    "PollReceiver",
    "Receiver",
    "Retry",
    "SseReceiver",
    "TransportError",
    "WsReceiver",
    "make_receiver",
]

REQUEST_TIMEOUT_S = 15.0
"""A single poll or fetch that takes longer than this is given up and retried."""


class TransportError(Exception):
    """The server answered something a client cannot use (a 5xx, an unexpected status, a dropped stream)."""


RETRYABLE: tuple[type[BaseException], ...] = (
    aiohttp.ClientError,
    OSError,
    TimeoutError,
    TransportError,
    ValueError,  # a body cut off mid-JSON by the kill
)


class Retry:
    """One retry loop's state: how many attempts in a row failed, and the wait before the next one."""

    __slots__ = ("_backoff", "_rng", "attempt")

    def __init__(self, backoff: Backoff, rng: random.Random) -> None:
        self._backoff = backoff
        self._rng = rng
        self.attempt = 0

    def succeeded(self) -> None:
        self.attempt = 0

    async def wait(self) -> None:
        """Sleep the policy's delay for this attempt, then count it."""
        delay = self._backoff.delay(self.attempt, self._rng)
        self.attempt += 1
        await asyncio.sleep(delay)


class Receiver(ABC):
    """One customer's client for one strategy; ``run()`` loops until cancelled."""

    def __init__(
        self,
        *,
        strategy: Strategy,
        customer_id: str,
        token: str,
        order_ids: tuple[str, ...],
        base_url: str,
        session: aiohttp.ClientSession,
        backoff: Backoff,
        rng: random.Random,
        contents: dict[int, str] | None = None,
    ) -> None:
        self.strategy = strategy
        self.contents = contents if contents is not None else {}
        """seq -> message text, shared by every receiver of the audit (to recognise retry copies)."""
        self.customer_id = customer_id
        self.inbox = Inbox(order_ids)
        self.base_url = base_url
        self.session = session
        self.backoff = backoff
        self.rng = rng
        self.headers = {"Authorization": f"Bearer {token}"}
        self.failures: Counter[str] = Counter()
        """Failed attempts by cause (exception class or HTTP status)."""
        self.connects = 0
        """Push streams opened (the first plus every reconnect)."""

    @property
    def name(self) -> str:
        return f"{self.strategy.spec}/{self.customer_id}"

    @abstractmethod
    async def run(self) -> None:
        """Receive until cancelled."""

    def new_retry(self) -> Retry:
        return Retry(self.backoff, self.rng)

    def note_failure(self, exc: BaseException) -> None:
        self.failures[str(exc) if isinstance(exc, TransportError) else type(exc).__name__] += 1

    def take(self, messages: list[dict[str, Any]]) -> bool:
        """Hand wire messages to the inbox; True when at least one was new."""
        news = False
        for message in messages:
            seq = int(message["seq"])
            if self.inbox.accept(str(message["orderId"]), seq):
                news = True
                self.contents.setdefault(seq, str(message.get("content", "")))
        return news

    async def get_json(self, path: str, *, params: dict[str, str] | None = None) -> dict[str, Any]:
        """A plain authenticated GET that must answer 200 JSON."""
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with self.session.get(
            self.base_url + path, params=params, headers=self.headers, timeout=timeout
        ) as resp:
            if resp.status != 200:
                raise TransportError(f"HTTP {resp.status}")
            body: dict[str, Any] = await resp.json()
            return body


class PollReceiver(Receiver):
    """Polling on a timer: differential (poll, adaptive) or the seed's full re-read (seed-dashboard)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._etag: str | None = None

    async def run(self) -> None:
        retry = self.new_retry()
        loop = asyncio.get_running_loop()
        interval = self._first_interval()
        while True:
            started = loop.time()
            try:
                news = await (self._seed_tick() if isinstance(self.strategy, SeedDashboard) else self._tick())
            except RETRYABLE as exc:
                self.note_failure(exc)
                await retry.wait()
                continue
            retry.succeeded()
            interval = self._next_interval(interval, news)
            # setInterval semantics: the next tick is due `interval` after this one started.
            await asyncio.sleep(max(0.0, interval - (loop.time() - started)))

    def _first_interval(self) -> float:
        s = self.strategy
        if isinstance(s, Adaptive):
            return s.min_s
        assert isinstance(s, Poll | SeedDashboard)
        return s.interval_s

    def _next_interval(self, current: float, news: bool) -> float:
        s = self.strategy
        if isinstance(s, Adaptive):
            return s.next_interval(current, got_news=news)  # a visible tab: no browser throttling
        return current

    async def _tick(self) -> bool:
        """One differential tick; True when it brought news."""
        headers = dict(self.headers)
        if self._etag is not None:
            headers["If-None-Match"] = self._etag
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with self.session.get(self.base_url + "/api/orders", headers=headers, timeout=timeout) as resp:
            if resp.status == 304:
                return False
            if resp.status != 200:
                raise TransportError(f"HTTP {resp.status}")
            listing: dict[str, Any] = await resp.json()
            etag = resp.headers.get("ETag")
        news = False
        for entry in listing["orders"]:
            order_id = str(entry["orderId"])
            if order_id in self.inbox.cursors and int(entry["cursor"]) > self.inbox.cursor(order_id):
                since = str(self.inbox.cursor(order_id))
                body = await self.get_json("/api/messages", params={"orderId": order_id, "since": since})
                news |= self.take(body["messages"])
        # The ETag is kept only once every fetch above succeeded: kept earlier, a fetch cut off by the kill
        # would turn the next tick into a 304 and its messages would wait for some unrelated change.
        self._etag = etag
        return news

    async def _seed_tick(self) -> bool:
        """The seed's fetchMessageCounts: the order list, then every order's whole conversation."""
        listing = await self.get_json("/api/orders")
        news = False
        for entry in listing["orders"]:
            body = await self.get_json("/api/messages", params={"orderId": str(entry["orderId"])})
            news |= self.take(body["messages"])
        return news


class LongPollReceiver(Receiver):
    """One long-poll per order, each re-issued as soon as it returns, each resuming from its cursor."""

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for order_id in self.inbox.order_ids:
                group.create_task(self._watch(order_id))

    async def _watch(self, order_id: str) -> None:
        assert isinstance(self.strategy, LongPoll)
        hold = self.strategy.timeout_s
        timeout = aiohttp.ClientTimeout(total=hold + REQUEST_TIMEOUT_S)
        retry = self.new_retry()
        while True:
            params = {"orderId": order_id, "since": str(self.inbox.cursor(order_id)), "timeout": f"{hold:g}"}
            try:
                async with self.session.get(
                    self.base_url + "/api/messages/wait", params=params, headers=self.headers, timeout=timeout
                ) as resp:
                    if resp.status == 200:
                        self.take((await resp.json())["messages"])
                    elif resp.status != 204:
                        raise TransportError(f"HTTP {resp.status}")
            except RETRYABLE as exc:
                self.note_failure(exc)
                await retry.wait()
                continue
            retry.succeeded()


class _StreamReceiver(Receiver):
    """A push client: one connection at a time, reconnected with backoff whenever it ends."""

    async def run(self) -> None:
        retry = self.new_retry()
        while True:
            try:
                await self._stream(retry)
                raise TransportError("stream ended")
            except RETRYABLE as exc:
                self.note_failure(exc)
            await retry.wait()

    @abstractmethod
    async def _stream(self, retry: Retry) -> None:
        """Open one connection and read it until it ends; call ``retry.succeeded()`` once it is live."""


class SseReceiver(_StreamReceiver):
    """An EventSource over all the customer's orders, resumed with ``Last-Event-ID``."""

    async def _stream(self, retry: Retry) -> None:
        assert isinstance(self.strategy, ServerSentEvents)
        headers = {**self.headers, "Accept": "text/event-stream"}
        held = self.inbox.high_water()
        if held:
            headers["Last-Event-ID"] = str(held)
        params = [("orderId", order_id) for order_id in self.inbox.order_ids] + [("since", "0")]
        # Two missed heartbeats mean a dead connection even if no FIN ever arrives.
        timeout = aiohttp.ClientTimeout(total=None, sock_read=2 * self.strategy.heartbeat_s + 5)
        async with self.session.get(
            self.base_url + "/api/stream", params=params, headers=headers, timeout=timeout
        ) as resp:
            if resp.status != 200:
                raise TransportError(f"HTTP {resp.status}")
            self.connects += 1
            retry.succeeded()
            parser = SseParser()
            async for chunk in resp.content.iter_any():
                for event in parser.feed(chunk):
                    if event.event == "message":
                        self.take([json.loads(event.data)])


class WsReceiver(_StreamReceiver):
    """A WebSocket subscribed to all the customer's orders, resubscribed with ``since``."""

    async def _stream(self, retry: Retry) -> None:
        assert isinstance(self.strategy, WebSocket)
        silence = 2 * self.strategy.ping_s + 10
        async with self.session.ws_connect(
            self.base_url + "/ws",
            headers=self.headers,
            autoping=True,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
        ) as ws:
            subscribe = {
                "type": "subscribe",
                "orderIds": list(self.inbox.order_ids),
                "since": self.inbox.high_water(),
            }
            await ws.send_str(json.dumps(subscribe))
            while True:
                frame = await ws.receive(timeout=silence)
                if frame.type != aiohttp.WSMsgType.TEXT:
                    return  # closed, closing or broken: the caller reconnects
                self._frame(json.loads(frame.data), retry)

    def _frame(self, data: dict[str, Any], retry: Retry) -> None:
        kind = data.get("type")
        if kind == "message":
            self.take([data["message"]])
        elif kind == "subscribed":
            self.connects += 1
            retry.succeeded()
        elif kind == "error":
            self.failures[f"ws error {data.get('error')}"] += 1


def make_receiver(
    strategy: Strategy,
    *,
    customer_id: str,
    token: str,
    order_ids: tuple[str, ...],
    base_url: str,
    session: aiohttp.ClientSession,
    backoff: Backoff,
    rng: random.Random,
    contents: dict[int, str] | None = None,
) -> Receiver:
    """The receiver class that speaks this strategy's transport."""
    kwargs: dict[str, Any] = dict(
        strategy=strategy,
        customer_id=customer_id,
        token=token,
        order_ids=order_ids,
        base_url=base_url,
        session=session,
        backoff=backoff,
        rng=rng,
        contents=contents,
    )
    classes: dict[str, type[Receiver]] = {
        "poll": PollReceiver,
        "longpoll": LongPollReceiver,
        "sse": SseReceiver,
        "ws": WsReceiver,
    }
    return classes[strategy.transport](**kwargs)
