"""A Locust process's load context: which customer each receiver gets, how fast senders post."""

from __future__ import annotations

from dataclasses import replace

from loadtests.context import LoadContext, Settings
from loadtests.fixtures import Customer, Fixtures
from pollbench.strategies import parse_strategy

SETTINGS = Settings(strategy=parse_strategy("poll:3"), message_interval_s=100.0, receivers=4,
                    customers_per_sender=25, send_for_s=0.0, raw_dir=None, seed=1, hidden_fraction=0.0,
                    max_connections=2, message_bytes=200)  # fmt: skip


def context(settings: Settings = SETTINGS, workers: int = 1) -> LoadContext:
    customers = [Customer(id=f"c{i}", name=f"C{i}", token="t", orders=(f"o{i}a", f"o{i}b")) for i in range(4)]
    fixtures = Fixtures(base_url="http://127.0.0.1:1", customers=tuple(customers), admins=())
    return LoadContext(settings=settings, fixtures=fixtures, host="", worker_index=0, workers=workers)


def test_a_stopped_receivers_customer_is_handed_out_again_before_a_new_one() -> None:
    ctx = context()
    got = [ctx.next_receiver()[1] for _ in range(3)]
    for c in got:
        ctx.register_receiver(c)
    ctx.unregister_receiver(got[1])
    assert [c.id for c in ctx.active] == ["c0", "c2"]
    assert ctx.next_receiver()[1].id == "c1"  # reused, not c3 and not a second client of c0
    assert ctx.next_receiver()[1].id == "c3"


def test_senders_post_only_into_running_receivers_orders() -> None:
    ctx = context()
    a, b = ctx.next_receiver()[1], ctx.next_receiver()[1]
    ctx.register_receiver(a)
    ctx.register_receiver(b)
    ctx.register_sender()
    ctx.unregister_receiver(a)
    assert [order for _c, order in ctx.sender_targets(0)] == ["o1a", "o1b"]


def test_the_message_floor_is_shared_by_every_sender_of_every_process() -> None:
    ctx = context(replace(SETTINGS, min_message_rate=8.0), workers=2)
    ctx.register_sender()
    ctx.register_sender()
    assert ctx.sender_rate(10) == 2.0  # 8/s over 2 processes x 2 senders, above 10 orders / 100 s
    assert ctx.sender_rate(1000) == 10.0  # the per-order rate when it is higher
    assert context().sender_rate(10) == 0.1  # no floor


def test_targets_follow_a_swap_that_keeps_the_receiver_count() -> None:
    ctx = context()
    a, b = ctx.next_receiver()[1], ctx.next_receiver()[1]
    ctx.register_receiver(a)
    ctx.register_sender()
    assert [o for _c, o in ctx.sender_targets(0)] == ["o0a", "o0b"]
    ctx.unregister_receiver(a)
    ctx.register_receiver(b)  # one left, one joined: still one receiver
    assert [o for _c, o in ctx.sender_targets(0)] == ["o1a", "o1b"]
