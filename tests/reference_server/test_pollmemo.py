"""reference_server.pollmemo: resolved poll requests kept for the identical request, bounded, never stale."""

from __future__ import annotations

import pytest

from reference_server.auth import Principal
from reference_server.message import Message
from reference_server.orderbook import OrderBook
from reference_server.pollmemo import PollMemo, ResolvedPoll

ALICE = Principal(id="c1", role="customer", name="Alice", expires_at=2000.0)


def book_with_order() -> OrderBook:
    book = OrderBook()
    book.add_order("o1", "c1")
    return book


def resolved(book: OrderBook, since: int | None = None) -> ResolvedPoll:
    return ResolvedPoll(principal=ALICE, order_id="o1", order=book.orders["o1"], since=since)


def message(seq: int) -> Message:
    return Message(
        seq=seq, order_id="o1", sender_type="admin", sender_name="A", content="x", is_read=False, created_ms=0
    )


def test_the_identical_request_gets_the_kept_resolution():
    memo, poll = PollMemo(), resolved(book_with_order())
    memo.put("Bearer t", "/api/messages?orderId=o1", poll)
    assert memo.get("Bearer t", "/api/messages?orderId=o1", now=1000) is poll


def test_another_caller_or_target_is_a_miss():
    memo = PollMemo()
    memo.put("Bearer t", "/api/messages?orderId=o1", resolved(book_with_order()))
    assert memo.get("Bearer u", "/api/messages?orderId=o1", now=1000) is None
    assert memo.get("Bearer t", "/api/messages?orderId=o1&since=3", now=1000) is None


def test_an_expired_token_is_a_miss():
    memo = PollMemo()
    memo.put("Bearer t", "/q", resolved(book_with_order()))
    assert memo.get("Bearer t", "/q", now=2000) is None


def test_the_memo_is_bounded():
    memo, book = PollMemo(capacity=3), book_with_order()
    for i in range(10):
        memo.put("Bearer t", f"/q{i}", resolved(book))
    assert len(memo) <= 3


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="capacity must be >= 1"):
        PollMemo(capacity=0)


@pytest.mark.parametrize("since", [None, 0, 5])
def test_the_etag_is_the_books_for_the_current_state(since):
    book = book_with_order()
    poll = resolved(book, since)
    assert poll.current_etag(book) == book.messages_etag("o1", "customer", since)
    book.on_message(message(7))
    assert poll.current_etag(book) == book.messages_etag("o1", "customer", since)
    book.on_mark_read("o1", "admin", 1)
    assert poll.current_etag(book) == book.messages_etag("o1", "customer", since)
    book.pruned()
    assert poll.current_etag(book) == book.messages_etag("o1", "customer", since)
    assert len({resolved(book, since).current_etag(book), poll.current_etag(book)}) == 1
