"""Senders: the plan spreads posts evenly and reproducibly; only a 201 acknowledges; a post that cannot
get through is abandoned, never assumed."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import aiohttp

from loadtests.audit.senders import Senders, plan_posts
from loadtests.audit.server import free_port
from pollbench.reconnect import Backoff

from .conftest import LiveServer

FAST = Backoff(initial_s=0.01, cap_s=0.05)
ORDERS = ["o1", "o2", "o3"]
OWNERS = {"o1": "t-c1", "o2": "t-c1", "o3": "t-c2"}


def _plan(seed: int, messages: int = 30) -> list[tuple[str, str]]:
    posts = plan_posts(
        messages=messages, order_ids=ORDERS, customer_tokens=OWNERS, admin_tokens=["t-a1"],
        rng=random.Random(seed),
    )  # fmt: skip
    return [(p.order_id, p.token) for p in posts]


def test_every_order_gets_its_share_of_the_plan() -> None:
    counts = Counter(order for order, _ in _plan(1, messages=31))
    assert sorted(counts.values()) == [10, 10, 11]


def test_the_plan_is_reproducible_from_its_seed() -> None:
    assert _plan(5) == _plan(5)
    assert _plan(5) != _plan(6)


def test_each_post_comes_from_the_orders_customer_or_an_admin() -> None:
    plan = _plan(2, messages=200)
    assert all(token in (OWNERS[order], "t-a1") for order, token in plan)
    admin_share = sum(token == "t-a1" for _, token in plan) / len(plan)
    assert 0.35 < admin_share < 0.65  # p = 0.5, n = 200: about 4 standard deviations either side


async def test_every_201_is_an_acknowledgement_with_its_seq(
    live_server: LiveServer, session: aiohttp.ClientSession
) -> None:
    customer = live_server.customer()
    posts = plan_posts(
        messages=12, order_ids=list(customer["orders"]),
        customer_tokens=dict.fromkeys(customer["orders"], customer["token"]),
        admin_tokens=[live_server.admin_token], rng=random.Random(3),
    )  # fmt: skip
    senders = Senders(
        posts=posts, base_url=live_server.base_url, session=session, backoff=FAST, rng=random.Random(0),
        rate_per_s=1000, concurrency=4,
    )  # fmt: skip
    now = asyncio.get_running_loop().time()
    await senders.run(stop_new_at=now + 10, give_up_at=now + 20)
    assert len(senders.acks) == 12
    assert len({a.seq for a in senders.acks}) == 12
    assert sorted(a.index for a in senders.acks) == list(range(12))
    assert all(a.order_id == posts[a.index].order_id for a in senders.acks)


async def test_a_post_that_never_gets_through_is_abandoned_not_acknowledged(
    session: aiohttp.ClientSession,
) -> None:
    posts = plan_posts(
        messages=1, order_ids=["o1"], customer_tokens={"o1": "t"}, admin_tokens=[], rng=random.Random(0)
    )
    senders = Senders(
        posts=posts, base_url=f"http://127.0.0.1:{free_port()}", session=session, backoff=FAST,
        rng=random.Random(0), rate_per_s=1000,
    )  # fmt: skip
    now = asyncio.get_running_loop().time()
    await senders.run(stop_new_at=now + 5, give_up_at=now + 0.3)
    assert senders.acks == [] and senders.abandoned == 1
    assert sum(senders.failed_attempts.values()) >= 2  # it did retry


async def test_a_4xx_is_rejected_without_retrying(
    live_server: LiveServer, session: aiohttp.ClientSession
) -> None:
    other = live_server.customer(1)
    posts = plan_posts(  # customer 1 posting into customer 2's order: 403
        messages=1, order_ids=[other["orders"][0]],
        customer_tokens={other["orders"][0]: live_server.customer(0)["token"]}, admin_tokens=[],
        rng=random.Random(0),
    )  # fmt: skip
    senders = Senders(
        posts=posts, base_url=live_server.base_url, session=session, backoff=FAST, rng=random.Random(0),
        rate_per_s=1000,
    )  # fmt: skip
    now = asyncio.get_running_loop().time()
    await senders.run(stop_new_at=now + 5, give_up_at=now + 5)
    assert senders.acks == [] and senders.rejected == Counter({403: 1})
    assert not senders.failed_attempts
