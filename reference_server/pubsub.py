"""In-process fan-out: the moment a message is committed, every long-poll, SSE stream and WebSocket that
watches its order hears about it.

Long-polls park a future per order and are woken (they then read the rows they were missing). Push
connections (SSE, WebSocket) hold a ``Subscription``: a *bounded* queue of pre-encoded messages. A consumer
that stops reading while messages keep coming fills its queue; it is then cut off (``on_overflow`` aborts its
connection) rather than allowed to grow server memory without bound. It comes back with its cursor
(``Last-Event-ID`` / ``since``) and the store replays what it missed.

Each message is JSON-encoded once per publish, not once per subscriber.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from reference_server.message import Message
from reference_server.store import Store

__all__ = ["REPLAY_PAGE", "Hub", "Push", "Subscription", "replay"]


REPLAY_PAGE = 500
"""Messages fetched per query while replaying to a resuming push client: an admin resuming from an old
cursor must not pull a month of messages into memory at once."""


async def replay(
    store: Store, order_ids: list[str] | None, since: int, send: Callable[[Message], Awaitable[None]]
) -> int:
    """Send every stored message after ``since`` in these orders, page by page; returns the last seq sent
    (``since`` if none)."""
    last = since
    while True:
        page = store.since(order_ids, last, REPLAY_PAGE)
        for message in page:
            await send(message)
            last = message.seq
        if len(page) < REPLAY_PAGE:
            return last


@dataclass(frozen=True, slots=True, kw_only=True)
class Push:
    """A committed message ready to send."""

    seq: int
    """The message's seq (SSE ``id:``)."""
    order_id: str
    """Its order, for filtering and de-duplication."""
    data: str
    """The message JSON text."""


class Subscription:
    """One push connection's view of the hub: the orders it watches and its bounded outgoing queue.

    Connections subclass it (rather than hold one and pass callbacks) and override ``on_overflow`` and
    ``on_ready``: at thousands of idle connections, every extra object and bound method is memory.
    """

    __slots__ = ("_hub", "_queue", "_waiter", "closed", "maxsize", "order_ids", "overflowed", "wildcard")

    def __init__(self, hub: Hub, *, maxsize: int) -> None:
        self._hub = hub
        # Created on the first message: an idle connection should cost as little as possible, and an empty
        # deque alone is over 600 bytes.
        self._queue: deque[Push] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.maxsize = maxsize
        self.order_ids: list[str] = []  # usually one or a few: a list is smaller than a set
        self.wildcard = False
        self.closed = False
        self.overflowed = False

    def deliver(self, push: Push) -> None:
        """Called by the hub on publish; never blocks."""
        if self.closed:
            return
        if self._queue is None:
            self._queue = deque()
        elif len(self._queue) >= self.maxsize:
            self.overflowed = True
            self.close()
            self.on_overflow()
            return
        self._queue.append(push)
        self._wake()
        self.on_ready()

    def on_overflow(self) -> None:
        """The consumer fell ``maxsize`` messages behind and was closed; connections drop their socket."""

    def on_ready(self) -> None:
        """A message was queued; push-style consumers (WebSocket) start a sender here, so an idle
        connection needs no task parked on ``get()``."""

    async def get(self) -> Push | None:
        """The next message, waiting if there is none; None once the subscription is closed."""
        while not self._queue:
            if self.closed:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._queue.popleft()

    def pending(self) -> int:
        return len(self._queue) if self._queue is not None else 0

    def pop(self) -> Push | None:
        """The next queued message without waiting, or None."""
        return self._queue.popleft() if self._queue else None

    def close(self) -> None:
        """Stop receiving and wake the consumer so it can finish."""
        if not self.closed:
            self.closed = True
            self._hub.unsubscribe(self)
            self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class Hub:
    """Routes each committed message to whoever watches its order."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        # Most orders have one watcher (its customer's dashboard), so a lone subscription is stored as itself
        # and only a second one turns the entry into a set: about 200 bytes saved per idle connection.
        self._subs: dict[str, Subscription | set[Subscription]] = {}
        self._wildcards: set[Subscription] = set()
        self.closed = False

    # -- long-poll -----------------------------------------------------------------------------
    def waiter(self, order_id: str) -> asyncio.Future[None]:
        """A future resolved on the next commit in this order (or when the hub closes)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.closed:
            future.set_result(None)
        else:
            self._waiters.setdefault(order_id, set()).add(future)
        return future

    def forget(self, order_id: str, future: asyncio.Future[None]) -> None:
        """Drop a waiter that timed out or was cancelled."""
        waiters = self._waiters.get(order_id)
        if waiters is not None:
            waiters.discard(future)
            if not waiters:
                del self._waiters[order_id]

    # -- push connections -----------------------------------------------------------------------
    def subscribe(self, sub: Subscription, order_ids: Iterable[str] | None) -> None:
        """Add orders to a subscription; None means every order (admins' firehose)."""
        if sub.closed:
            return
        if order_ids is None:
            sub.wildcard = True
            self._wildcards.add(sub)
            return
        for order_id in order_ids:
            if order_id in sub.order_ids:
                continue
            sub.order_ids.append(order_id)
            entry = self._subs.get(order_id)
            if entry is None:
                self._subs[order_id] = sub
            elif isinstance(entry, Subscription):
                self._subs[order_id] = {entry, sub}
            else:
                entry.add(sub)

    def unsubscribe(self, sub: Subscription) -> None:
        self._wildcards.discard(sub)
        for order_id in sub.order_ids:
            entry = self._subs.get(order_id)
            if entry is sub:
                del self._subs[order_id]
            elif isinstance(entry, set):
                entry.discard(sub)
                if len(entry) == 1:
                    self._subs[order_id] = entry.pop()

    def subscriber_count(self) -> int:
        return len(self._wildcards) + sum(
            1 if isinstance(e, Subscription) else len(e) for e in self._subs.values()
        )

    # -- fan-out --------------------------------------------------------------------------------
    def publish(self, message: Message) -> None:
        """Wake long-polls and enqueue to push subscribers of ``message.order_id``."""
        waiters = self._waiters.pop(message.order_id, None)
        if waiters:
            for future in waiters:
                if not future.done():
                    future.set_result(None)
        entry = self._subs.get(message.order_id)
        if entry is None and not self._wildcards:
            return
        push = Push(seq=message.seq, order_id=message.order_id, data=message.dumps())
        # Copy: a delivery can overflow and unsubscribe, mutating the set.
        targets = [entry] if isinstance(entry, Subscription) else [*(entry or ())]
        for sub in [*targets, *self._wildcards]:
            sub.deliver(push)

    def close(self) -> None:
        """Server shutdown: release every long-poll and end every push subscription."""
        self.closed = True
        for waiters in self._waiters.values():
            for future in waiters:
                if not future.done():
                    future.set_result(None)
        self._waiters.clear()
        subs = [*self._wildcards]
        for entry in self._subs.values():
            subs.extend([entry] if isinstance(entry, Subscription) else entry)
        for sub in subs:
            sub.close()
