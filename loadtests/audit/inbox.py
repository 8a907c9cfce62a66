"""A receiver's inbox: what a client hands to its application, after its own de-duplication.

Every transport can bring a message twice: a poller re-reads a conversation, a resumed SSE stream or
WebSocket replays from a cursor that was a little behind, a long-poll answer is lost with the server and
asked for again. A real client keeps, per order, the seqs it already holds and hands only new ones to the
application (the chat window). The inbox is that layer; its ``log`` is what the application saw, in the
order it saw it, and is what the audit reconciles against the acknowledged messages.

Messages of an order the receiver does not watch are never handed on; they are counted as ``foreign``
(the server showed a customer somebody else's order).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Delivery", "Inbox"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One message handed to the application."""

    order_id: str
    """The order (conversation) it belongs to."""
    seq: int
    """Its store-wide sequence number."""


class Inbox:
    """Per-order cursors, de-duplication by seq, and the application log of one receiver."""

    __slots__ = ("_seen", "cursors", "deduplicated", "foreign", "log")

    def __init__(self, order_ids: Iterable[str]) -> None:
        self.cursors: dict[str, int] = dict.fromkeys(order_ids, 0)
        """Per watched order, the highest seq held (0: none yet)."""
        self._seen: dict[str, set[int]] = {order_id: set() for order_id in self.cursors}
        self.log: list[Delivery] = []
        """Everything handed to the application, in order."""
        self.deduplicated = 0
        """Messages the transport brought again and the inbox dropped."""
        self.foreign = 0
        """Messages of orders this receiver does not watch (never handed on)."""

    @property
    def order_ids(self) -> tuple[str, ...]:
        return tuple(self.cursors)

    def cursor(self, order_id: str) -> int:
        """The highest seq held in this order: the ``since`` a poll or long-poll resumes from."""
        return self.cursors[order_id]

    def high_water(self) -> int:
        """The highest seq held in any watched order: where a push stream resumes.

        A push stream carries all the receiver's orders in one seq order, so everything below the last
        seq it delivered has been delivered (if the server keeps that promise; the audit checks it).
        """
        return max(self.cursors.values(), default=0)

    def accept(self, order_id: str, seq: int) -> bool:
        """Take one message off the wire; True when it was new and went to the application."""
        seen = self._seen.get(order_id)
        if seen is None:
            self.foreign += 1
            return False
        if seq in seen:
            self.deduplicated += 1
            return False
        seen.add(seq)
        if seq > self.cursors[order_id]:
            self.cursors[order_id] = seq
        self.log.append(Delivery(order_id=order_id, seq=seq))
        return True

    def holds(self, order_id: str, seqs: Iterable[int]) -> bool:
        """Whether every one of these seqs of this order has reached the application."""
        seen = self._seen.get(order_id, set())
        return all(seq in seen for seq in seqs)

    def held(self, order_id: str) -> int:
        """How many distinct messages of this order reached the application."""
        return len(self._seen.get(order_id, ()))
