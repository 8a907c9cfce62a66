"""Reconciliation: the acknowledged messages held against what every subscriber's application received.

For each subscriber (one customer's client of one strategy) and each order it watches:

- **lost**: an acknowledged message of that order that never reached the application;
- **duplicated**: a message the application received more than once (after the client's de-duplication
  by seq, so a non-zero count means a message was shown twice);
- **out_of_order**: a message the application received after a later message of the same order;
- **delivered**: acknowledged messages that did reach it (each counted once);
- **unacknowledged**: messages it received that no 201 acknowledged: a message committed just before a
  kill whose answer died with the server. Not an error: the server never promised anything about it.

And over the whole audit, **resent_copies**: unacknowledged messages whose text is that of a post that was
acknowledged under another seq. The sender retried a POST whose first attempt had in fact been committed,
and every application shows the message twice. The API has no idempotency key, so no client can prevent
this; it is reported (not counted as ``duplicated``, which is about one seq handed over twice).

Counts add up over subscribers: with one subscriber per order per strategy, a strategy with nothing lost
has ``delivered == acknowledged``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from loadtests.audit.inbox import Delivery
from loadtests.audit.senders import Ack, post_index

__all__ = ["Finding", "Reconciliation", "StrategyTally", "SubscriberLog", "reconcile"]

Kind = Literal["lost", "duplicated", "out_of_order"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriberLog:
    """What one subscriber's application received."""

    strategy: str
    """Canonical strategy spec, e.g. ``poll:3``."""
    subscriber: str
    """Its name, e.g. ``sse/c7``."""
    order_ids: tuple[str, ...]
    """The orders it watches."""
    log: Sequence[Delivery]
    """Deliveries in the order the application saw them."""
    deduplicated: int = 0
    """Messages the client itself dropped as already held (transport redeliveries)."""
    foreign: int = 0
    """Messages of orders it does not watch that the server sent it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One problem, precise enough to look up in the database."""

    kind: Kind
    """lost, duplicated or out_of_order."""
    subscriber: str
    """Who saw (or missed) it."""
    order_id: str
    """The order."""
    seq: int
    """The message."""


@dataclass(slots=True, kw_only=True)
class StrategyTally:
    """Sums over one strategy's subscribers."""

    subscribers: int = 0
    """Clients of this strategy."""
    delivered: int = 0
    """Acknowledged messages that reached a client's application (once per client)."""
    lost: int = 0
    """Acknowledged messages of a watched order that never reached the client's application."""
    duplicated: int = 0
    """Messages handed to an application more than once, after the client's de-duplication."""
    out_of_order: int = 0
    """Messages handed over after a later message of the same order."""
    unacknowledged: int = 0
    """Distinct messages received that no 201 acknowledged."""
    deduplicated: int = 0
    """Transport redeliveries the clients dropped themselves."""
    foreign: int = 0
    """Messages of other customers' orders the server sent."""

    def to_json(self) -> dict[str, int]:
        return {
            "delivered": self.delivered,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "out_of_order": self.out_of_order,
            "foreign": self.foreign,
            "unacknowledged": self.unacknowledged,
            "deduplicated": self.deduplicated,
            "subscribers": self.subscribers,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconciliation:
    """The audit's verdict."""

    acknowledged: int
    """Distinct messages acknowledged with a 201."""
    per_strategy: dict[str, StrategyTally]
    """Tallies by strategy spec, in the order the strategies were given."""
    examples: tuple[Finding, ...] = field(default=())
    """The first findings of each kind, for the report."""
    resent_copies: int = 0
    """Unacknowledged messages repeating the text of an acknowledged post (a retried POST committed twice)."""

    def total(self, name: Literal["lost", "duplicated", "out_of_order", "foreign", "delivered"]) -> int:
        return sum(int(getattr(t, name)) for t in self.per_strategy.values())

    @property
    def clean(self) -> bool:
        """Nothing lost, duplicated, reordered or leaked."""
        return not any(self.total(k) for k in ("lost", "duplicated", "out_of_order", "foreign"))

    def to_json(self) -> dict[str, Any]:
        return {
            "acknowledged": self.acknowledged,
            "lost": self.total("lost"),
            "duplicated": self.total("duplicated"),
            "out_of_order": self.total("out_of_order"),
            "foreign": self.total("foreign"),
            "resent_copies": self.resent_copies,
            "per_strategy": {spec: t.to_json() for spec, t in self.per_strategy.items()},
            "examples": [
                {"kind": f.kind, "subscriber": f.subscriber, "orderId": f.order_id, "seq": f.seq}
                for f in self.examples
            ],
        }


def reconcile(
    acks: Iterable[Ack],
    subscribers: Iterable[SubscriberLog],
    *,
    contents: Mapping[int, str] | None = None,
    max_examples: int = 10,
) -> Reconciliation:
    """Hold every subscriber's log against the acknowledged messages of the orders it watches.

    ``contents`` (seq -> text of every message any subscriber received) lets it count resent copies.
    """
    acks = list(acks)
    acked: dict[str, set[int]] = defaultdict(set)
    for ack in acks:
        acked[ack.order_id].add(ack.seq)
    tallies: dict[str, StrategyTally] = {}
    examples: dict[Kind, list[Finding]] = {"lost": [], "duplicated": [], "out_of_order": []}
    for sub in subscribers:
        tally = tallies.setdefault(sub.strategy, StrategyTally())
        tally.subscribers += 1
        tally.deduplicated += sub.deduplicated
        tally.foreign += sub.foreign
        for finding in _check_subscriber(sub, acked, tally):
            if len(examples[finding.kind]) < max_examples:
                examples[finding.kind].append(finding)
    return Reconciliation(
        acknowledged=sum(len(seqs) for seqs in acked.values()),
        per_strategy=tallies,
        examples=tuple(f for kind in examples.values() for f in kind),
        resent_copies=_resent_copies(acks, contents or {}),
    )


def _resent_copies(acks: list[Ack], contents: Mapping[int, str]) -> int:
    acked_seqs = {ack.seq for ack in acks}
    acked_posts = {ack.index for ack in acks}
    return sum(
        1 for seq, text in contents.items() if seq not in acked_seqs and post_index(text) in acked_posts
    )


def _check_subscriber(
    sub: SubscriberLog, acked: dict[str, set[int]], tally: StrategyTally
) -> Iterable[Finding]:
    by_order: dict[str, list[int]] = defaultdict(list)
    for delivery in sub.log:
        by_order[delivery.order_id].append(delivery.seq)
    for order_id in sub.order_ids:
        expected = acked.get(order_id, set())
        received: set[int] = set()
        highest = 0
        for seq in by_order.get(order_id, ()):
            if seq in received:
                tally.duplicated += 1
                yield Finding(kind="duplicated", subscriber=sub.subscriber, order_id=order_id, seq=seq)
                continue
            if seq < highest:
                tally.out_of_order += 1
                yield Finding(kind="out_of_order", subscriber=sub.subscriber, order_id=order_id, seq=seq)
            received.add(seq)
            highest = max(highest, seq)
        tally.delivered += len(expected & received)
        tally.unacknowledged += len(received - expected)
        for seq in sorted(expected - received):
            tally.lost += 1
            yield Finding(kind="lost", subscriber=sub.subscriber, order_id=order_id, seq=seq)
