"""Receivers of every transport against a real server: they receive what is posted to their orders, in
order, and a receiver that already holds messages resumes after them instead of re-reading everything."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import aiohttp
import pytest

from loadtests.audit.clients import Receiver, make_receiver
from loadtests.audit.server import free_port
from pollbench.reconnect import Backoff
from pollbench.strategies import parse_strategy

from .conftest import LiveServer

FAST = Backoff(initial_s=0.01, cap_s=0.05)
DIFFERENTIAL = ["poll:0.1", "adaptive:min=0.1,max=0.4", "longpoll:2", "sse", "ws"]
EVERY = [*DIFFERENTIAL, "seed-dashboard:0.1"]


def _receiver(spec: str, server: LiveServer, session: aiohttp.ClientSession, url: str = "") -> Receiver:
    customer = server.customer()
    return make_receiver(
        parse_strategy(spec), customer_id=customer["id"], token=customer["token"],
        order_ids=tuple(customer["orders"]), base_url=url or server.base_url, session=session,
        backoff=FAST, rng=random.Random(1),
    )  # fmt: skip


async def _post(session: aiohttp.ClientSession, server: LiveServer, order_id: str) -> int:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    body = {"orderId": order_id, "content": "hello"}
    async with session.post(server.base_url + "/api/messages", json=body, headers=headers) as resp:
        assert resp.status == 201
        message: dict[str, Any] = (await resp.json())["message"]
        return int(message["seq"])


async def _until(condition: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def _post_some(session: aiohttp.ClientSession, server: LiveServer, n: int) -> list[tuple[str, int]]:
    orders = server.customer()["orders"]
    return [(orders[i % 2], await _post(session, server, orders[i % 2])) for i in range(n)]


@pytest.mark.parametrize("spec", EVERY)
async def test_a_receiver_gets_every_posted_message_in_order(
    spec: str, live_server: LiveServer, session: aiohttp.ClientSession
) -> None:
    receiver = _receiver(spec, live_server, session)
    task = asyncio.create_task(receiver.run())
    try:
        await asyncio.sleep(0.1)  # live for push transports; polls find them either way
        posted = await _post_some(session, live_server, 6)
        await _until(lambda: len(receiver.inbox.log) >= len(posted))
    finally:
        task.cancel()
    for order_id in receiver.inbox.order_ids:
        got = [d.seq for d in receiver.inbox.log if d.order_id == order_id]
        assert got == [seq for o, seq in posted if o == order_id]


@pytest.mark.parametrize("spec", DIFFERENTIAL)
async def test_a_receiver_resumes_after_what_it_holds(
    spec: str, live_server: LiveServer, session: aiohttp.ClientSession
) -> None:
    """It asks only for what it lacks (since, Last-Event-ID, subscribe since): nothing comes twice."""
    posted = await _post_some(session, live_server, 6)
    receiver = _receiver(spec, live_server, session)
    for order_id, seq in posted[:4]:
        receiver.inbox.accept(order_id, seq)
    task = asyncio.create_task(receiver.run())
    try:
        await _until(lambda: len(receiver.inbox.log) >= 6)
        await asyncio.sleep(0.3)  # room for a wrongly repeated delivery to show up
    finally:
        task.cancel()
    assert receiver.inbox.deduplicated == 0
    assert [d.seq for d in receiver.inbox.log] == [seq for _, seq in posted]


@pytest.mark.parametrize("spec", EVERY)
async def test_a_receiver_keeps_retrying_a_server_that_is_not_there(
    spec: str, live_server: LiveServer, session: aiohttp.ClientSession
) -> None:
    receiver = _receiver(spec, live_server, session, url=f"http://127.0.0.1:{free_port()}")
    task = asyncio.create_task(receiver.run())
    try:
        await _until(lambda: sum(receiver.failures.values()) >= 3)
        assert not task.done()  # still trying, not crashed
    finally:
        task.cancel()
