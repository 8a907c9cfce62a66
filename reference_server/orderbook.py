"""The order book: what the server knows about every order without asking the database.

This is the poll path's access path. Most polls ask "anything new?" and the answer is almost always "no",
so for each order the server keeps in memory its owner, its *cursor* (highest seq committed in it) and, per
sender type, how many messages exist and how many are unread. These are loaded from the database at start
and updated right after each commit (new message) or mark-read, on the event-loop thread, so they are never
behind what a client could have been told.

From them the server answers without touching SQLite:
- ``If-None-Match`` revalidation: the strong ETag is derived from (order, viewer role, since, cursor,
  read-version, epoch), exactly the inputs the response body depends on, so equal ETags mean byte-equal
  bodies;
- ``since`` polls with nothing new (``since >= cursor``): an empty list, the unread count and the cursor;
- the whole ``GET /api/orders`` list with totals and unread badges.

Only when a response has rows in it does the handler read SQLite. The *epoch* is random per process and
changes on every prune, so an ETag issued before a restart or a prune never matches a different body after.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from reference_server.auth import Principal, Role
from reference_server.message import Message
from reference_server.store import CountRow

__all__ = ["OrderBook", "OrderState", "other_party"]


def other_party(role: Role) -> Role:
    """Whose messages a viewer counts as unread: the other side of the conversation."""
    return "admin" if role == "customer" else "customer"


@dataclass(slots=True, kw_only=True)
class OrderState:
    """Live counters for one order (mutable: updated on every commit)."""

    customer_id: str
    """The customer who owns the order."""
    cursor: int = 0
    """Highest seq committed in this order (0: none yet). Never decreases, even when old rows are pruned."""
    total_customer: int = 0
    """Messages the customer sent."""
    total_admin: int = 0
    """Messages admins sent."""
    unread_customer: int = 0
    """Customer messages not yet read by an admin."""
    unread_admin: int = 0
    """Admin messages not yet read by the customer."""
    read_version: int = 0
    """Bumped whenever a mark-read changes any isRead in this order (bodies change, cursor does not)."""

    def total_from(self, sender: Role) -> int:
        return self.total_customer if sender == "customer" else self.total_admin

    def unread_from(self, sender: Role) -> int:
        return self.unread_customer if sender == "customer" else self.unread_admin


class OrderBook:
    """Every order's live state, plus the indexes the handlers need."""

    def __init__(self) -> None:
        self.orders: dict[str, OrderState] = {}
        self.by_customer: dict[str, list[str]] = {}
        self.last_seq = 0
        self.read_versions = 0  # sum of every order's read_version; only ever grows
        self._epoch_base = secrets.token_hex(4)
        self._prunes = 0
        self.epoch = self._epoch_base

    # -- loading and updating ------------------------------------------------------------------
    def add_order(self, order_id: str, customer_id: str) -> None:
        if order_id not in self.orders:
            self.orders[order_id] = OrderState(customer_id=customer_id)
            self.by_customer.setdefault(customer_id, []).append(order_id)

    def load_counts(self, rows: Iterable[CountRow], last_seq: int) -> None:
        """Replace counters with the database's aggregates (at start and after a prune)."""
        for state in self.orders.values():
            state.total_customer = state.total_admin = state.unread_customer = state.unread_admin = 0
        for row in rows:
            order = self.orders.get(row.order_id)
            if order is None:
                continue
            if row.sender_type == "customer":
                order.total_customer, order.unread_customer = row.total, row.unread
            else:
                order.total_admin, order.unread_admin = row.total, row.unread
            order.cursor = max(order.cursor, row.max_seq)
        self.last_seq = max(self.last_seq, last_seq)

    def pruned(self) -> None:
        """Bodies may have lost rows without any cursor moving: retire every ETag issued so far."""
        self._prunes += 1
        self.epoch = f"{self._epoch_base}{self._prunes}"

    def on_message(self, message: Message) -> None:
        """Account for a committed message."""
        state = self.orders[message.order_id]
        state.cursor = message.seq
        self.last_seq = max(self.last_seq, message.seq)
        if message.sender_type == "customer":
            state.total_customer += 1
            state.unread_customer += 1
        else:
            state.total_admin += 1
            state.unread_admin += 1

    def on_mark_read(self, order_id: str, sender: Role, updated: int) -> None:
        """Account for ``updated`` of ``sender``'s messages in this order becoming read."""
        if updated <= 0:
            return
        state = self.orders[order_id]
        if sender == "customer":
            state.unread_customer = 0
        else:
            state.unread_admin = 0
        state.read_version += 1
        self.read_versions += 1

    # -- queries --------------------------------------------------------------------------------
    def can_access(self, principal: Principal, order_id: str) -> bool:
        state = self.orders.get(order_id)
        return state is not None and (principal.role == "admin" or state.customer_id == principal.id)

    def behind(self, order_ids: list[str] | None, since: int) -> bool:
        """Whether any of these orders (None: any order) has a message after ``since``. Push connections
        resuming at their cursor (the common case) then skip the replay query entirely."""
        if order_ids is None:
            return self.last_seq > since
        return any(self.orders[o].cursor > since for o in order_ids if o in self.orders)

    def visible(self, principal: Principal) -> list[str]:
        """The orders this caller may see: their own, or all for admins."""
        if principal.role == "admin":
            return list(self.orders)
        return list(self.by_customer.get(principal.id, ()))

    def messages_etag(self, order_id: str, role: Role, since: int | None) -> str:
        state = self.orders[order_id]
        since_part = "all" if since is None else str(min(since, state.cursor))
        return f'"m.{order_id}.{role[0]}.{since_part}.{state.cursor}.{state.read_version}.{self.epoch}"'

    def orders_etag(self, principal: Principal) -> str:
        """Strong ETag of a caller's order list.

        Because seq is store-wide, a new message in any of the caller's orders makes that order's cursor the
        largest of them, so ``max(cursor)`` moves on every new message; the read-version sum moves on every
        mark-read. Admins see every order, so the store-wide figures serve.
        """
        if principal.role == "admin":
            return f'"o.a.{len(self.orders)}.{self.last_seq}.{self.read_versions}.{self.epoch}"'
        ids = self.by_customer.get(principal.id, ())
        states = [self.orders[i] for i in ids]
        top = max((s.cursor for s in states), default=0)
        reads = sum(s.read_version for s in states)
        return f'"o.c.{principal.id}.{len(states)}.{top}.{reads}.{self.epoch}"'
