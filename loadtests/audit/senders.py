"""The audit's senders: customers and admins posting messages across the orders at a steady rate.

A message counts as *acknowledged* only when its ``POST /api/messages`` came back 201 with the committed
message (and so its seq): that is the server's promise the audit holds it to. A POST that dies with the
server (refused, reset, cut off) proves nothing either way, so it is retried with the shared backoff
policy until it gets its 201 or the run gives up on it (then it is *abandoned*, never assumed). A retry
may commit a second copy of a message whose first answer was lost in the crash; the copy is simply an
unacknowledged message, and the reconciliation reports such deliveries separately.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aiohttp

from loadtests.audit.clients import REQUEST_TIMEOUT_S, RETRYABLE, Retry, TransportError
from pollbench.reconnect import Backoff

__all__ = ["Ack", "Post", "Senders", "content_of", "plan_posts", "post_index"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Post:
    """One message to send."""

    index: int
    """Position in the plan (also in the text, so copies are recognisable)."""
    order_id: str
    """Target order."""
    token: str
    """Who sends it: the order's customer or an admin."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack:
    """A message the server acknowledged with 201."""

    index: int
    """The plan position it was sent for."""
    order_id: str
    """Its order."""
    seq: int
    """The seq the server assigned at commit."""


def plan_posts(
    *,
    messages: int,
    order_ids: list[str],
    customer_tokens: dict[str, str],
    admin_tokens: list[str],
    rng: random.Random,
) -> list[Post]:
    """``messages`` posts spread evenly over the orders (a reshuffled round robin: every order gets its
    share, in an order that differs per cycle), each from the order's customer or, half the time, an admin."""
    if not order_ids:
        raise ValueError("no orders to post to")
    posts: list[Post] = []
    cycle: list[str] = []
    for index in range(messages):
        if not cycle:
            cycle = list(order_ids)
            rng.shuffle(cycle)
        order_id = cycle.pop()
        use_admin = bool(admin_tokens) and rng.random() < 0.5
        token = rng.choice(admin_tokens) if use_admin else customer_tokens[order_id]
        posts.append(Post(index=index, order_id=order_id, token=token))
    return posts


def content_of(post: Post) -> str:
    """The text posted: it names the plan position, so a copy committed by a retry can be recognised."""
    return f"audit message {post.index} for {post.order_id}"


_CONTENT = re.compile(r"^audit message (\d+) for ")


def post_index(content: str) -> int | None:
    """The plan position a message's text names (None for text the audit did not write)."""
    m = _CONTENT.match(content)
    return int(m.group(1)) if m else None


class Senders:
    """A pool of concurrent senders working through a plan at ``rate_per_s``."""

    def __init__(
        self,
        *,
        posts: list[Post],
        base_url: str,
        session: aiohttp.ClientSession,
        backoff: Backoff,
        rng: random.Random,
        rate_per_s: float,
        concurrency: int = 256,
    ) -> None:
        if not rate_per_s > 0 or concurrency < 1:
            raise ValueError("rate_per_s must be > 0 and concurrency >= 1")
        self.posts = posts
        self.base_url = base_url
        self.session = session
        self.backoff = backoff
        self.rng = rng
        self.rate_per_s = rate_per_s
        self.concurrency = concurrency
        self.acks: list[Ack] = []
        self.failed_attempts: Counter[str] = Counter()
        """Attempts that got no 201, by cause; each was retried."""
        self.rejected: Counter[int] = Counter()
        """Posts the server refused with a 4xx (not retried; a harness or server bug)."""
        self.abandoned = 0
        """Posts still unacknowledged when the run stopped retrying."""
        self._started = 0

    @property
    def started(self) -> int:
        """Posts taken from the plan so far."""
        return self._started

    async def run(self, *, stop_new_at: float, give_up_at: float) -> None:
        """Send until the plan is done or ``stop_new_at`` (loop time); retries end at ``give_up_at``.

        Each post is its own task, started when it is due: the senders stand for many users, and one
        user's post waiting out its backoff must not hold back everybody else's (a fixed pool of workers
        would all sit in backoff after a crash and post nothing for seconds after the server is back).
        """
        loop = asyncio.get_running_loop()
        start = loop.time()
        slots = asyncio.Semaphore(self.concurrency)
        async with asyncio.TaskGroup() as group:
            for post in self.posts:
                due = start + post.index / self.rate_per_s
                if due >= stop_new_at:
                    return
                await asyncio.sleep(max(0.0, due - loop.time()))
                await slots.acquire()
                if loop.time() >= stop_new_at:
                    slots.release()
                    return
                self._started += 1
                group.create_task(self._deliver_and_release(post, give_up_at, slots))

    async def _deliver_and_release(self, post: Post, give_up_at: float, slots: asyncio.Semaphore) -> None:
        try:
            await self._deliver(post, give_up_at)
        finally:
            slots.release()

    async def _deliver(self, post: Post, give_up_at: float) -> None:
        """POST until a 201 (acknowledged), a 4xx (rejected) or the give-up time (abandoned)."""
        loop = asyncio.get_running_loop()
        retry = Retry(self.backoff, self.rng)
        while loop.time() < give_up_at:
            try:
                ack = await self._post_once(post)
            except RETRYABLE as exc:
                cause = str(exc) if isinstance(exc, TransportError) else type(exc).__name__
                self.failed_attempts[cause] += 1
                await retry.wait()
                continue
            if ack is not None:
                self.acks.append(ack)
            return
        self.abandoned += 1

    async def _post_once(self, post: Post) -> Ack | None:
        """One attempt: the Ack on 201, None on a 4xx; raises for anything worth retrying."""
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        # The idempotency key makes a retry after a lost 201 (the server died after committing) return the
        # stored message instead of committing a second copy under a new seq.
        key = f"audit-{post.index}"
        body = {"orderId": post.order_id, "content": content_of(post), "clientMessageId": key}
        headers = {"Authorization": f"Bearer {post.token}"}
        async with self.session.post(
            self.base_url + "/api/messages", json=body, headers=headers, timeout=timeout
        ) as resp:
            if resp.status == 201:
                message: dict[str, Any] = (await resp.json())["message"]
                return Ack(index=post.index, order_id=str(message["orderId"]), seq=int(message["seq"]))
            if 400 <= resp.status < 500:
                self.rejected[resp.status] += 1
                return None
            raise TransportError(f"HTTP {resp.status}")
