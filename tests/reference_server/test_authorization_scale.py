"""Authorization at scale (issue 6, section 5): 1 000 customers on every channel at once, and not one message
of another customer's order reaches any of them.

A real ``pollbench serve`` subprocess (loopback, SQLite file) is seeded with customers c1..c1000, each owning
one order (ci owns oi), and no messages. Then, all at once:

* every customer has a poller (``GET /api/messages?since=`` plus ``GET /api/orders``), and customer i also
  has one push channel: long-poll, SSE or WebSocket for i % 4 = 0, 1, 2 (250 each; i % 4 = 3 polls only);
  half the SSE streams name their order, half ask for "all my orders" (no orderId);
* every customer posts ``MESSAGES`` messages into its own order, interleaved with everybody else's
  (seeded shuffle), each marked ``auth:<customer>:<k>`` in its content;
* every customer also tries another customer's order on every channel: read, long-poll, stream, subscribe
  (its own live WebSocket for WebSocket customers, a short-lived one for the others) and post;
* an admin streams every order: it must see each acknowledged message exactly once and no refused post.

Every message received on any channel is checked: its orderId must be the receiver's order and its content
marker the receiver's own. When every post is acknowledged, each customer posts a sentinel ``auth:<c>:end``;
a subscriber stops on its sentinel. Poll, long-poll, SSE and WebSocket deliver an order's messages in seq
order and every foreign message was committed before any sentinel, so a leak would have arrived before the
subscriber stopped: "nothing foreign received" is checked over the whole traffic, not a sample of it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from loadtests.fixtures import Admin, Customer, load_fixtures
from loadtests.server_process import ServerOptions, ServerProcess
from reference_server.runner import raise_open_file_limit

CUSTOMERS = 1000
MESSAGES = 2
"""Messages each customer posts into its own order (plus the sentinel)."""
PUSH = ("longpoll", "sse", "ws", None)
"""Customer i's push channel is PUSH[i % 4]; None: a poller only."""
CROSS = ("poll", "longpoll", "sse", "ws", "post")
"""Every customer tries another customer's order on each of these."""
DEADLINE_S = 60.0
"""Hard bound on the whole traffic; a channel still waiting then is reported as missing messages."""
POLL_INTERVAL_S = 3.0
"""The seed dashboard's poll interval."""
SEED = 5
CONCURRENCY = 128
"""Posts and cross attempts in flight at once (interleaved across customers)."""
SOCKETS_NEEDED = 2 * CUSTOMERS + 512
"""Descriptors this process may hold at once: 750 push connections, up to 256 pooled poll connections, the
cross attempts in flight, and headroom."""


def marker(customer: Customer, k: int | str) -> str:
    return f"auth:{customer.id}:{k}"


@dataclass(slots=True)
class Ledger:
    """Everything the clients saw."""

    customers: tuple[Customer, ...] = ()
    """Who took part, in fixture order (customer i has push channel PUSH[i % 4])."""
    received: dict[tuple[str, str], set[str]] = field(default_factory=lambda: collections.defaultdict(set))
    """(customer, channel) -> own message contents received on it."""
    leaks: list[str] = field(default_factory=list)
    """Foreign messages (or foreign orders listed) that reached a client."""
    refused: collections.Counter[str] = field(default_factory=collections.Counter)
    """Cross attempts refused as expected, per channel."""
    not_refused: list[str] = field(default_factory=list)
    """Cross attempts that were not refused (or refused the wrong way)."""
    failed_posts: list[str] = field(default_factory=list)
    admin_seen: list[str] = field(default_factory=list)
    """Contents on an admin's stream of every order, in arrival order."""
    errors: list[str] = field(default_factory=list)
    """Client tasks that died (a dropped connection, the deadline)."""
    elapsed_s: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds from the start to the end of each phase."""

    def take(self, customer: Customer, channel: str, message: dict[str, Any]) -> None:
        """Record one received message; anything not the customer's own is a leak."""
        order, content = message.get("orderId"), str(message.get("content", ""))
        if order not in customer.orders or not content.startswith(marker(customer, "")):
            self.leaks.append(f"{customer.id} on {channel} got order {order!r}: {content[:60]!r}")
        else:
            self.received[(customer.id, channel)].add(content)

    def count(self, customer: Customer, channel: str, refused: bool, detail: str) -> None:
        """Record one cross attempt."""
        if refused:
            self.refused[channel] += 1
        else:
            self.not_refused.append(f"{customer.id} {channel} {detail}")

    def done(self, customer: Customer, channel: str) -> bool:
        return marker(customer, "end") in self.received[(customer.id, channel)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Traffic:
    """What every client needs: the server, both HTTP sessions, the ledger and the stop time."""

    base_url: str
    polls: aiohttp.ClientSession
    """Short requests (pooled keep-alive connections)."""
    pushes: aiohttp.ClientSession
    """Long-lived connections (one socket each, no pool limit)."""
    ledger: Ledger
    deadline: float
    ready: dict[str, asyncio.Event]
    """Per push customer: set once its channel is subscribed."""
    sentinels_posted: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once every sentinel is acknowledged."""

    def left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


def auth(customer: Customer) -> dict[str, str]:
    return {"Authorization": f"Bearer {customer.token}"}


# -- own traffic: one loop per channel, each until its sentinel ----------------------------------------------


async def poller(t: Traffic, c: Customer, rng: random.Random) -> None:
    cursor, tick = 0, 0
    while not t.ledger.done(c, "poll") and t.left() > 0:
        params = {"orderId": c.orders[0], "since": str(cursor)}
        async with t.polls.get("/api/messages", params=params, headers=auth(c)) as resp:
            body = await resp.json()
        for message in body["messages"]:
            t.ledger.take(c, "poll", message)
        cursor = body["cursor"]
        if tick % 2 == 0:
            async with t.polls.get("/api/orders", headers=auth(c)) as resp:
                listed = {o["orderId"] for o in (await resp.json())["orders"]}
            if listed != set(c.orders):
                t.ledger.leaks.append(f"{c.id}'s /api/orders lists {sorted(listed)[:5]}")
        tick += 1
        await pause(t, POLL_INTERVAL_S * rng.uniform(0.5, 1.5))


async def pause(t: Traffic, seconds: float) -> None:
    """A poll interval, cut short once when the sentinels are in: the next poll is then certain to carry the
    poller's own sentinel, so nobody idles out a whole interval at the end."""
    if t.sentinels_posted.is_set():
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(t.sentinels_posted.wait(), timeout=seconds)


async def long_poller(t: Traffic, c: Customer) -> None:
    cursor = 0
    t.ready[c.id].set()  # since=0 from the start: nothing can be missed, so no need to wait for a hold
    while not t.ledger.done(c, "longpoll") and t.left() > 0:
        params = {"orderId": c.orders[0], "since": str(cursor), "timeout": "10"}
        async with t.pushes.get("/api/messages/wait", params=params, headers=auth(c)) as resp:
            if resp.status == 204:
                continue
            body = await resp.json()
        for message in body["messages"]:
            t.ledger.take(c, "longpoll", message)
        cursor = body["cursor"]


async def sse_reader(t: Traffic, c: Customer, *, name_order: bool) -> None:
    """The customer's stream: of its order by name, or (``name_order`` false) of "all my orders", the form a
    leak would hurt most, since the server picks the orders."""
    params = {"since": "0", "token": c.token} | ({"orderId": c.orders[0]} if name_order else {})
    async with t.pushes.get("/api/stream", params=params) as resp:
        assert resp.status == 200, f"{c.id}: stream answered {resp.status}"
        t.ready[c.id].set()
        async with asyncio.timeout(t.left()):
            async for line in resp.content:
                if line.startswith(b"data: "):
                    t.ledger.take(c, "sse", json.loads(line[6:]))
                    if t.ledger.done(c, "sse"):
                        return


async def ws_reader(t: Traffic, c: Customer, other: Customer) -> None:
    """The customer's own WebSocket. Before going live it asks for the other's order twice (with its own,
    then alone): each time it must get ``forbidden`` and a ``subscribed`` without that order."""
    own, theirs = c.orders[0], other.orders[0]
    async with t.pushes.ws_connect("/ws", headers=auth(c)) as ws:
        async with asyncio.timeout(t.left()):
            for order_ids, allowed in (([own, theirs], [own]), ([theirs], [])):
                await ws.send_json({"type": "subscribe", "orderIds": order_ids, "since": 0})
                frames = [await next_control(t, c, ws), await next_control(t, c, ws)]
                t.ledger.count(c, "ws", refused_ws(frames, allowed), f"subscribe {order_ids}: {frames}")
            t.ready[c.id].set()
            while not t.ledger.done(c, "ws"):
                frame = await next_control(t, c, ws)
                if frame["type"] != "done":
                    t.ledger.not_refused.append(f"{c.id} ws: unexpected frame {frame}")


async def next_control(t: Traffic, c: Customer, ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The next frame that is not a message (messages are taken into the ledger on the way)."""
    while True:
        frame = await ws.receive_json()
        if frame.get("type") != "message":
            return dict(frame)
        t.ledger.take(c, "ws", frame["message"])
        if t.ledger.done(c, "ws"):
            return {"type": "done"}


def refused_ws(frames: list[dict[str, Any]], allowed: list[str]) -> bool:
    error, subscribed = frames
    return (error.get("type"), error.get("error")) == ("error", "forbidden") and subscribed == {
        "type": "subscribed",
        "orderIds": allowed,
    }


async def admin_reader(t: Traffic, admin: Admin, customers: int) -> None:
    """An admin's stream of every order (no orderId), until every customer's sentinel has passed."""
    ends = 0
    async with t.pushes.get("/api/stream", params={"since": "0", "token": admin.token}) as resp:
        assert resp.status == 200, f"{admin.id}: stream answered {resp.status}"
        t.ready[admin.id].set()
        async with asyncio.timeout(t.left()):
            async for line in resp.content:
                if line.startswith(b"data: "):
                    content = str(json.loads(line[6:])["content"])
                    t.ledger.admin_seen.append(content)
                    ends += content.endswith(":end")
                    if ends == customers:
                        return


# -- cross attempts: another customer's order on every channel ---------------------------------------------


async def cross_attempts(t: Traffic, c: Customer, other: Customer, live_ws: bool) -> None:
    """c tries other's order on every channel; each must be refused with 403 forbidden."""
    theirs, h = other.orders[0], auth(c)
    wait = {"orderId": theirs, "since": "0", "timeout": "5"}
    intrusion = {"orderId": theirs, "content": marker(c, "intruder")}
    attempts: dict[str, Callable[[], Any]] = {
        "poll": lambda: t.polls.get("/api/messages", params={"orderId": theirs}, headers=h),
        "longpoll": lambda: t.polls.get("/api/messages/wait", params=wait, headers=h),
        "sse": lambda: t.polls.get("/api/stream", params={"orderId": theirs, "token": c.token}),
        "post": lambda: t.polls.post("/api/messages", json=intrusion, headers=h),
    }
    for channel, request in attempts.items():
        async with request() as resp:
            body = await resp.json() if resp.content_type == "application/json" else {}
            ok = resp.status == 403 and body.get("error") == "forbidden"
            t.ledger.count(c, channel, ok, f"{theirs}: {resp.status} {body}")
    if not live_ws:  # a WebSocket customer tried on its own live socket already
        await short_ws_attempt(t, c, theirs)


async def short_ws_attempt(t: Traffic, c: Customer, theirs: str) -> None:
    async with t.polls.ws_connect("/ws", headers=auth(c)) as ws:
        await ws.send_json({"type": "subscribe", "orderIds": [theirs], "since": 0})
        frames = [await ws.receive_json(timeout=t.left()) for _ in range(2)]
        t.ledger.count(c, "ws", refused_ws(frames, []), f"subscribe [{theirs}]: {frames}")


# -- posting: own messages interleaved across customers, then the sentinels ---------------------------------


async def post(t: Traffic, c: Customer, content: str) -> None:
    body = {"orderId": c.orders[0], "content": content}
    async with t.polls.post("/api/messages", json=body, headers=auth(c)) as resp:
        if resp.status != 201:
            t.ledger.failed_posts.append(f"{c.id} {content}: {resp.status} {await resp.text()}")


async def bounded(jobs: list[Awaitable[None]], limit: int) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(job: Awaitable[None]) -> None:
        async with gate:
            await job

    await asyncio.gather(*(one(j) for j in jobs))


# -- the run ------------------------------------------------------------------------------------------------


def push_channel(index: int) -> str | None:
    return PUSH[index % len(PUSH)]


async def guarded(t: Traffic, who: str, channel: str, job: Awaitable[None]) -> None:
    """Run one client loop; a failure is recorded, not raised, so every other client still finishes."""
    try:
        await job
    except (aiohttp.ClientError, TimeoutError, AssertionError, ValueError, KeyError) as exc:
        t.ledger.errors.append(f"{who} {channel}: {type(exc).__name__} {exc}")
        t.ready[who].set()  # do not hold the posters back


def push_client(t: Traffic, i: int, c: Customer, other: Customer) -> Awaitable[None] | None:
    kind = push_channel(i)
    if kind == "longpoll":
        return long_poller(t, c)
    if kind == "sse":
        return sse_reader(t, c, name_order=i % (2 * len(PUSH)) < len(PUSH))
    if kind == "ws":
        return ws_reader(t, c, other)
    return None


def start_clients(
    t: Traffic, customers: tuple[Customer, ...], others: list[Customer], seed: int
) -> list[asyncio.Task[None]]:
    """A poller for every customer and the push channel of every fourth-but-one."""
    rng = random.Random(seed)
    tasks = [asyncio.create_task(guarded(t, c.id, "poll", poller(t, c, random.Random(rng.random()))))
             for c in customers]  # fmt: skip
    for i, c in enumerate(customers):
        kind = push_channel(i)
        loop = push_client(t, i, c, others[i])
        if loop is None:
            t.ready[c.id].set()
        else:
            tasks.append(asyncio.create_task(guarded(t, c.id, str(kind), loop)))
    return tasks


async def run_traffic(base_url: str, customers: tuple[Customer, ...], admin: Admin, seed: int) -> Ledger:
    """Subscribe everybody, then post and trespass interleaved, then the sentinels; wait for the clients."""
    rng = random.Random(seed)
    started = time.monotonic()
    n = len(customers)
    others = [customers[(i + rng.randrange(1, n)) % n] for i in range(n)]
    async with (
        aiohttp.ClientSession(
            base_url, connector=aiohttp.TCPConnector(limit=256), timeout=aiohttp.ClientTimeout(total=30)
        ) as polls,
        aiohttp.ClientSession(base_url, connector=aiohttp.TCPConnector(limit=0)) as pushes,
    ):
        t = Traffic(
            base_url=base_url,
            polls=polls,
            pushes=pushes,
            ledger=Ledger(customers=customers),
            deadline=started + DEADLINE_S,
            ready={who: asyncio.Event() for who in (*(c.id for c in customers), admin.id)},
        )
        clients = start_clients(t, customers, others, rng.randrange(2**32))
        clients.append(asyncio.create_task(guarded(t, admin.id, "sse", admin_reader(t, admin, n))))
        try:
            async with asyncio.timeout(t.left()):
                await asyncio.gather(*(e.wait() for e in t.ready.values()))
            t.ledger.phases["subscribed"] = time.monotonic() - started
            jobs: list[Awaitable[None]] = [
                post(t, c, marker(c, k)) for c in customers for k in range(MESSAGES)
            ]
            for i, c in enumerate(customers):
                jobs.append(cross_attempts(t, c, others[i], live_ws=push_channel(i) == "ws"))
            rng.shuffle(jobs)
            await bounded(jobs, CONCURRENCY)
            t.ledger.phases["posted and trespassed"] = time.monotonic() - started
            sentinels: list[Awaitable[None]] = [post(t, c, marker(c, "end")) for c in customers]
            rng.shuffle(sentinels)
            await bounded(sentinels, CONCURRENCY)
            t.ledger.phases["sentinels posted"] = time.monotonic() - started
            t.sentinels_posted.set()
            await asyncio.wait(clients, timeout=t.left())
            t.ledger.phases["all clients done"] = time.monotonic() - started
        finally:
            for task in clients:
                task.cancel()
            await asyncio.gather(*clients, return_exceptions=True)
    t.ledger.elapsed_s = time.monotonic() - started
    return t.ledger


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    limit = raise_open_file_limit()
    assert limit >= SOCKETS_NEEDED, f"open-file limit {limit} < {SOCKETS_NEEDED}; raise ulimit -n"
    workdir: Path = tmp_path_factory.mktemp("authz")
    options = ServerOptions(
        customers=CUSTOMERS,
        orders_per_customer=1,
        admins=1,
        workdir=workdir,
        extra_args=("--messages-per-order", "0"),
    )
    with ServerProcess(options) as server:
        fixtures = load_fixtures(server.fixtures)
        assert len(fixtures.customers) == CUSTOMERS
        result = asyncio.run(run_traffic(server.base_url, fixtures.customers, fixtures.admins[0], SEED))
    print(
        f"\nauthorization at scale: {CUSTOMERS} customers, {result.elapsed_s:.1f} s, "
        f"{sum(len(v) for v in result.received.values())} own deliveries, refused {dict(result.refused)}, "
        f"phases {json.dumps({k: round(v, 1) for k, v in result.phases.items()})}"
    )
    yield result


def expected(c: Customer) -> set[str]:
    return {marker(c, k) for k in (*range(MESSAGES), "end")}


def test_no_message_of_another_customers_order_reaches_any_client(ledger: Ledger) -> None:
    assert ledger.errors == [], ledger.errors[:5]
    assert ledger.leaks == [], ledger.leaks[:5]


def test_every_post_into_an_own_order_is_acknowledged(ledger: Ledger) -> None:
    assert ledger.failed_posts == [], ledger.failed_posts[:5]


def test_every_own_message_arrives_on_every_channel_of_its_customer(ledger: Ledger) -> None:
    missing = []
    for i, c in enumerate(ledger.customers):
        for channel in ("poll", push_channel(i)):
            if channel is not None and ledger.received[(c.id, channel)] != expected(c):
                missing.append(f"{c.id} {channel}: {sorted(expected(c) - ledger.received[(c.id, channel)])}")
    assert missing == [], f"{len(missing)} channels incomplete: {missing[:5]}"
    channels = collections.Counter(channel for (_, channel) in ledger.received)
    assert channels == {"poll": CUSTOMERS, "longpoll": 250, "sse": 250, "ws": 250}


def test_every_cross_attempt_on_every_channel_is_refused(ledger: Ledger) -> None:
    assert ledger.not_refused == [], ledger.not_refused[:5]
    ws_customers = CUSTOMERS // len(PUSH)
    once_each = {channel: CUSTOMERS for channel in CROSS}
    assert ledger.refused == {**once_each, "ws": CUSTOMERS + ws_customers}  # live sockets are tried twice


def test_an_admin_stream_carries_every_message_once_and_no_refused_post(ledger: Ledger) -> None:
    everything = sorted(set().union(*(expected(c) for c in ledger.customers)))
    assert len(everything) == CUSTOMERS * (MESSAGES + 1)
    assert sorted(ledger.admin_seen) == everything


def test_the_ledger_counts_a_foreign_message_as_a_leak() -> None:
    """The check above can fail: a message of another order, or with another customer's marker, is a leak."""
    me = Customer(id="c1", name="Customer 1", token="t", orders=("o1",))
    other = Customer(id="c2", name="Customer 2", token="t", orders=("o2",))
    ledger = Ledger(customers=(me, other))
    ledger.take(me, "sse", {"orderId": "o1", "content": marker(me, 0)})
    ledger.take(me, "sse", {"orderId": "o2", "content": marker(other, 0)})
    ledger.take(me, "ws", {"orderId": "o1", "content": marker(other, "intruder")})
    assert ledger.received[("c1", "sse")] == {marker(me, 0)}
    assert len(ledger.leaks) == 2
