"""Reconciliation: crafted application logs with known losses, duplicates and reorderings are counted
exactly; a clean log passes."""

from __future__ import annotations

from loadtests.audit.inbox import Delivery
from loadtests.audit.reconcile import SubscriberLog, reconcile
from loadtests.audit.senders import Ack


def _acks(*pairs: tuple[str, int]) -> list[Ack]:
    return [Ack(index=i, order_id=o, seq=s) for i, (o, s) in enumerate(pairs)]


def _sub(name: str, orders: tuple[str, ...], *log: tuple[str, int], strategy: str = "sse") -> SubscriberLog:
    return SubscriberLog(
        strategy=strategy,
        subscriber=f"{strategy}/{name}",
        order_ids=orders,
        log=[Delivery(order_id=o, seq=s) for o, s in log],
    )


ACKS = _acks(("o1", 1), ("o2", 2), ("o1", 3), ("o2", 4))


def test_a_complete_ordered_log_is_clean() -> None:
    result = reconcile(ACKS, [_sub("c1", ("o1", "o2"), ("o1", 1), ("o2", 2), ("o1", 3), ("o2", 4))])
    assert result.clean
    assert result.acknowledged == 4
    assert result.per_strategy["sse"].delivered == 4


def test_an_acknowledged_message_never_delivered_is_lost() -> None:
    result = reconcile(ACKS, [_sub("c1", ("o1", "o2"), ("o1", 1), ("o2", 2), ("o2", 4))])
    assert result.total("lost") == 1
    assert [(f.kind, f.order_id, f.seq) for f in result.examples] == [("lost", "o1", 3)]
    assert not result.clean


def test_a_message_handed_to_the_application_twice_is_duplicated() -> None:
    log = (("o1", 1), ("o1", 3), ("o1", 3), ("o2", 2), ("o2", 4))
    result = reconcile(ACKS, [_sub("c1", ("o1", "o2"), *log)])
    assert (result.total("duplicated"), result.total("lost"), result.total("out_of_order")) == (1, 0, 0)
    assert result.per_strategy["sse"].delivered == 4


def test_an_older_message_after_a_newer_one_of_the_same_order_is_out_of_order() -> None:
    log = (("o1", 3), ("o1", 1), ("o2", 2), ("o2", 4))
    result = reconcile(ACKS, [_sub("c1", ("o1", "o2"), *log)])
    assert (result.total("out_of_order"), result.total("lost"), result.total("duplicated")) == (1, 0, 0)


def test_orders_interleave_freely_without_counting_as_out_of_order() -> None:
    """Order is promised within a conversation, not across them."""
    log = (("o2", 2), ("o1", 1), ("o2", 4), ("o1", 3))  # seq 1 after 2: other order, so fine
    result = reconcile(ACKS, [_sub("c1", ("o1", "o2"), *log)])
    assert result.clean


def test_unacknowledged_deliveries_are_reported_but_not_errors() -> None:
    """A retry's committed copy (or a message committed right before a kill) is not a loss or duplicate."""
    log = (("o1", 1), ("o1", 3), ("o1", 5), ("o2", 2), ("o2", 4))
    result = reconcile(ACKS, [_sub("c1", ("o1", "o2"), *log)])
    assert result.clean
    assert result.per_strategy["sse"].unacknowledged == 1


def test_each_subscriber_is_held_to_its_own_orders_only() -> None:
    subs = [_sub("c1", ("o1",), ("o1", 1), ("o1", 3)), _sub("c2", ("o2",), ("o2", 2))]
    result = reconcile(ACKS, subs)
    assert result.total("lost") == 1
    assert result.examples[0].subscriber == "sse/c2" and result.examples[0].seq == 4


def test_strategies_are_tallied_separately_and_summed() -> None:
    subs = [
        _sub("c1", ("o1", "o2"), ("o1", 1), ("o2", 2), ("o1", 3), ("o2", 4), strategy="ws"),
        _sub("c1", ("o1", "o2"), ("o1", 1), ("o2", 2), strategy="poll:3"),
    ]
    result = reconcile(ACKS, subs)
    assert result.per_strategy["ws"].lost == 0
    assert result.per_strategy["poll:3"].lost == 2
    assert result.total("lost") == 2
    assert list(result.per_strategy) == ["ws", "poll:3"]


def test_foreign_messages_fail_the_audit() -> None:
    sub = SubscriberLog(strategy="ws", subscriber="ws/c1", order_ids=("o1",), log=[], foreign=1)
    result = reconcile([], [sub])
    assert result.total("foreign") == 1
    assert not result.clean


def test_examples_are_capped_per_kind() -> None:
    acks = _acks(*(("o1", s) for s in range(1, 30)))
    result = reconcile(acks, [_sub("c1", ("o1",))], max_examples=3)
    assert result.total("lost") == 29
    assert len(result.examples) == 3


def test_json_has_the_issue_fields() -> None:
    doc = reconcile(ACKS, [_sub("c1", ("o1", "o2"), ("o1", 1), ("o2", 2), ("o1", 3))]).to_json()
    assert {k: doc[k] for k in ("acknowledged", "lost", "duplicated", "out_of_order")} == {
        "acknowledged": 4, "lost": 1, "duplicated": 0, "out_of_order": 0,
    }  # fmt: skip
    assert doc["per_strategy"]["sse"]["delivered"] == 3


def test_a_retried_post_committed_twice_is_counted_as_a_resent_copy() -> None:
    """Seq 5 carries the text of post 0, which was acknowledged as seq 1: the user sees it twice."""
    contents = {1: "audit message 0 for o1", 5: "audit message 0 for o1", 3: "audit message 2 for o1"}
    log = (("o1", 1), ("o1", 3), ("o1", 5), ("o2", 2), ("o2", 4))
    result = reconcile(ACKS, [_sub("c1", ("o1", "o2"), *log)], contents=contents)
    assert result.resent_copies == 1
    assert result.clean  # a server without idempotency keys cannot do better; reported, not failed


def test_an_unacknowledged_message_with_new_text_is_not_a_copy() -> None:
    contents = {7: "audit message 9 for o1", 8: "hello from somebody else"}
    result = reconcile(
        ACKS, [_sub("c1", ("o1",), ("o1", 1), ("o1", 3), ("o1", 7), ("o1", 8))], contents=contents
    )
    assert result.resent_copies == 0
