"""The inbox: de-duplication by seq per order, cursors, the application log, foreign messages."""

from __future__ import annotations

from loadtests.audit.inbox import Delivery, Inbox


def test_a_new_message_reaches_the_application_and_moves_the_cursor() -> None:
    inbox = Inbox(["o1", "o2"])
    assert inbox.accept("o1", 5)
    assert inbox.cursor("o1") == 5 and inbox.cursor("o2") == 0
    assert inbox.log == [Delivery(order_id="o1", seq=5)]


def test_a_message_seen_before_is_dropped_and_counted() -> None:
    inbox = Inbox(["o1"])
    inbox.accept("o1", 5)
    assert not inbox.accept("o1", 5)
    assert len(inbox.log) == 1 and inbox.deduplicated == 1


def test_an_older_unseen_message_is_still_handed_on_and_keeps_the_cursor() -> None:
    """De-duplication is by seq, not by cursor: a late message is delivered (and the audit then reports
    it out of order) rather than silently swallowed."""
    inbox = Inbox(["o1"])
    inbox.accept("o1", 9)
    assert inbox.accept("o1", 4)
    assert inbox.cursor("o1") == 9 and [d.seq for d in inbox.log] == [9, 4]


def test_messages_of_unwatched_orders_are_foreign_and_never_delivered() -> None:
    inbox = Inbox(["o1"])
    assert not inbox.accept("o7", 3)
    assert inbox.foreign == 1 and inbox.log == []


def test_high_water_is_the_highest_seq_over_all_orders() -> None:
    inbox = Inbox(["o1", "o2"])
    assert inbox.high_water() == 0
    inbox.accept("o1", 3)
    inbox.accept("o2", 8)
    assert inbox.high_water() == 8


def test_holds_checks_every_seq() -> None:
    inbox = Inbox(["o1"])
    inbox.accept("o1", 1)
    inbox.accept("o1", 3)
    assert inbox.holds("o1", [1, 3]) and not inbox.holds("o1", [1, 2])
    assert inbox.held("o1") == 2
