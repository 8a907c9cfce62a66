"""reference_server.pubsub: fan-out to long-polls and bounded push subscriptions."""

from __future__ import annotations

import asyncio

from reference_server.message import Message
from reference_server.pubsub import Hub, Subscription


def msg(seq: int, order: str = "o1") -> Message:
    return Message(
        seq=seq,
        order_id=order,
        sender_type="admin",
        sender_name="A",
        content="x",
        is_read=False,
        created_ms=1_700_000_000_000,
    )


async def seq_of(sub: Subscription) -> int:
    push = await sub.get()
    assert push is not None
    return push.seq


async def test_publish_reaches_only_subscribers_of_that_order():
    hub = Hub()
    mine, other = Subscription(hub, maxsize=4), Subscription(hub, maxsize=4)
    hub.subscribe(mine, ["o1"])
    hub.subscribe(other, ["o2"])
    hub.publish(msg(1, "o1"))
    assert await seq_of(mine) == 1
    assert other.pending() == 0


async def test_wildcard_subscription_sees_every_order():
    hub = Hub()
    sub = Subscription(hub, maxsize=4)
    hub.subscribe(sub, None)
    hub.publish(msg(1, "o1"))
    hub.publish(msg(2, "o9"))
    assert [await seq_of(sub), await seq_of(sub)] == [1, 2]


async def test_consumer_that_stops_reading_is_cut_off_at_the_bound():
    hub = Hub()
    cut: list[bool] = []

    class Cut(Subscription):
        def on_overflow(self):
            cut.append(True)

    sub = Cut(hub, maxsize=3)
    hub.subscribe(sub, ["o1"])
    for seq in range(1, 5):
        hub.publish(msg(seq))
    assert cut == [True] and sub.overflowed and sub.closed
    assert hub.subscriber_count() == 0  # no longer receiving, memory bounded at maxsize
    hub.publish(msg(5))
    assert sub.pending() == 3


async def test_closed_subscription_returns_none_after_draining():
    hub = Hub()
    sub = Subscription(hub, maxsize=4)
    hub.subscribe(sub, ["o1"])
    hub.publish(msg(1))
    sub.close()
    assert await seq_of(sub) == 1
    assert await sub.get() is None


async def test_waiter_resolves_on_commit_in_its_order_only():
    hub = Hub()
    w1, w2 = hub.waiter("o1"), hub.waiter("o2")
    hub.publish(msg(1, "o1"))
    assert w1.done() and not w2.done()
    hub.forget("o2", w2)


async def test_close_releases_waiters_and_subscriptions():
    hub = Hub()
    waiter = hub.waiter("o1")
    sub = Subscription(hub, maxsize=4)
    hub.subscribe(sub, ["o1"])
    getter = asyncio.ensure_future(sub.get())
    await asyncio.sleep(0)
    hub.close()
    assert waiter.done()
    assert await asyncio.wait_for(getter, 1) is None


async def test_on_ready_is_called_per_queued_message():
    hub = Hub()
    calls: list[int] = []

    class Pushy(Subscription):
        def on_ready(self):
            calls.append(self.pending())

    sub = Pushy(hub, maxsize=4)
    hub.subscribe(sub, ["o1"])
    hub.publish(msg(1))
    hub.publish(msg(2))
    assert calls == [1, 2]


async def test_several_subscribers_of_one_order_all_receive_and_can_leave():
    hub = Hub()
    subs = [Subscription(hub, maxsize=4) for _ in range(3)]
    for sub in subs:
        hub.subscribe(sub, ["o1"])
    hub.publish(msg(1))
    assert [s.pending() for s in subs] == [1, 1, 1]
    subs[0].close()
    subs[1].close()
    hub.publish(msg(2))
    assert [s.pending() for s in subs] == [1, 1, 2]
    assert hub.subscriber_count() == 1
    subs[2].close()
    assert hub.subscriber_count() == 0
