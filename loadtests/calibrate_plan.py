"""Who calibration acts as, and the exact requests it sends for each request kind.

The requests carry the same headers as the Locust users (``Authorization: Bearer``, ``Accept``, an
``If-None-Match`` on the differential poll), laid out by :func:`loadtests.wire.request_head`, so the wire
bytes calibration reports are the bytes a measured load test puts on the wire.

Roles are taken from the fixtures so measurements do not disturb each other: the first customer is the
*reader* whose orders are only ever read (its full poll stays the seeded ~2 KB), the others' orders receive
the posted messages, the long-polls and the push subscriptions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

from loadtests.calibrate_http import encode_request
from loadtests.calibrate_server import CalibrateError, Target
from loadtests.fixtures import Customer

__all__ = ["MESSAGE_CONTENT", "Plan", "make_plan"]

MESSAGE_CONTENT = "calibration message, about the size of a chat line"
"""Content of every posted message (the scenario default message is ~200 B of JSON; this makes ~220)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """The identities and orders each measurement uses, and how to encode its requests."""

    host_header: str
    """``Host`` header value (``127.0.0.1:PORT``)."""
    reader: Customer
    """Customer whose orders are only read (order list, full poll, 304s, 'nothing new')."""
    writers: tuple[Customer, ...]
    """Customers whose orders receive messages (POST, since-with-news, long-poll, push)."""

    @property
    def writer_orders(self) -> list[tuple[Customer, str]]:
        """Every (owner, order) of the writers."""
        return [(c, o) for c in self.writers for o in c.orders]

    @staticmethod
    def auth(customer: Customer) -> dict[str, str]:
        """Headers a receiving browser sends with every API request (as the Locust users do)."""
        return {"Authorization": f"Bearer {customer.token}", "Accept": "application/json"}

    def get(self, target: str, customer: Customer | None, **extra: str) -> bytes:
        """A GET as a browser of ``customer`` sends it (no auth for ``None``)."""
        headers = self.auth(customer) if customer is not None else {}
        headers.update({k.replace("_", "-"): v for k, v in extra.items()})
        return encode_request("GET", target, self.host_header, headers)

    def post(self, customer: Customer, order_id: str, content: str = MESSAGE_CONTENT) -> bytes:
        """POST /api/messages as a sender does."""
        body = json.dumps({"orderId": order_id, "content": content}).encode()
        headers = {**self.auth(customer), "Content-Type": "application/json"}
        return encode_request("POST", "/api/messages", self.host_header, headers, body)

    def messages(self, customer: Customer, order_id: str, since: int | None = None) -> bytes:
        """GET /api/messages for one order, full (no ``since``) or differential."""
        query = f"orderId={quote(order_id)}" + ("" if since is None else f"&since={since}")
        return self.get(f"/api/messages?{query}", customer)

    def wait(self, customer: Customer, order_id: str, since: int, timeout_s: float) -> bytes:
        """GET /api/messages/wait, the long-poll."""
        return self.get(
            f"/api/messages/wait?orderId={quote(order_id)}&since={since}&timeout={timeout_s:g}", customer
        )

    def stream(self, customer: Customer, order_id: str, since: int) -> bytes:
        """An EventSource request (token in the query, as browsers must), like the Locust SSE user."""
        target = f"/api/stream?orderId={quote(order_id)}&since={since}&token={quote(customer.token)}"
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache", "Last-Event-ID": str(since)}
        return encode_request("GET", target, self.host_header, headers)


def make_plan(target: Target) -> Plan:
    """Reader and writers from the target's fixtures; needs one customer with orders, ideally several."""
    customers = [c for c in target.fixtures.customers if c.orders]
    if not customers:
        raise CalibrateError("the fixtures list no customer with orders; seed some with --seed-customers")
    reader = customers[0]
    # With a single customer, reads and writes share it: its full poll then grows as messages are posted.
    writers = tuple(customers[1:]) or (reader,)
    bracket = f"[{target.host}]" if ":" in target.host else target.host
    return Plan(host_header=f"{bracket}:{target.port}", reader=reader, writers=writers)
