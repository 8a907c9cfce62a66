"""Demo data: customers c1..cN with K orders each (o1, o2, ... in customer order), admins a1..aA, a few
messages per new order, and the fixtures file load tests use to act as those users.

Seeding is idempotent: orders that already exist keep their messages, so restarting on the same database
does not duplicate anything. Message texts are fixed (no randomness), so every run seeds the same bytes.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reference_server.auth import Role, TokenAuthority
from reference_server.config import ServerConfig
from reference_server.store import NewMessage, Store

__all__ = ["DemoUser", "build_fixtures", "demo_admins", "demo_customers", "seed_store", "write_fixtures"]

_CUSTOMER_LINES = (
    "Hi, could you tell me when my custom order will be ready? I would like to plan the pickup.",
    "Thanks for the update. Can you also confirm the colour is the dark blue we discussed?",
    "Great, and is it still possible to add engraving on the back with my initials, please?",
    "Perfect, that works for me. Please let me know if you need anything else from my side.",
)
_ADMIN_LINES = (
    "Hello! Your order is in production now and should be ready by the end of this week.",
    "Yes, the colour is confirmed as dark blue. We will send a photo before it is shipped.",
    "Engraving is possible and adds one working day. I have added it to your order notes.",
    "You are all set. We will message you here as soon as the order leaves our workshop.",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoUser:
    """A seeded identity."""

    id: str
    """``c3`` or ``a1``."""
    name: str
    """``Customer 3`` or ``Admin 1``."""
    role: Role
    """Customer or admin."""
    orders: tuple[str, ...] = ()
    """Order ids owned (customers only)."""


def demo_customers(config: ServerConfig) -> list[DemoUser]:
    """c1..cN, customer i owning orders o((i-1)K+1) .. o(iK)."""
    k = config.orders_per_customer
    return [
        DemoUser(
            id=f"c{i}",
            name=f"Customer {i}",
            role="customer",
            orders=tuple(f"o{(i - 1) * k + j}" for j in range(1, k + 1)),
        )
        for i in range(1, config.seed_customers + 1)
    ]


def demo_admins(config: ServerConfig) -> list[DemoUser]:
    """a1..aA."""
    return [DemoUser(id=f"a{i}", name=f"Admin {i}", role="admin") for i in range(1, config.seed_admins + 1)]


def _conversation(customer: DemoUser, order_id: str, count: int) -> list[NewMessage]:
    out = []
    for j in range(count):
        role: Role = "customer" if j % 2 == 0 else "admin"
        lines = _CUSTOMER_LINES if role == "customer" else _ADMIN_LINES
        name = customer.name if role == "customer" else "Admin 1"
        content = f"[{order_id}] {lines[(j // 2) % len(lines)]}"
        out.append(NewMessage(order_id=order_id, sender_type=role, sender_name=name, content=content))
    return out


async def seed_store(store: Store, config: ServerConfig) -> int:
    """Create the demo orders (and messages for new ones); returns how many orders were new."""
    customers = demo_customers(config)
    pairs = [(order_id, c.id) for c in customers for order_id in c.orders]
    if not pairs:
        return 0
    created = set(await store.add_orders(pairs))
    owner = {order_id: c for c in customers for order_id in c.orders}
    batch = [
        m
        for order_id, _ in pairs
        if order_id in created
        for m in _conversation(owner[order_id], order_id, config.messages_per_order)
    ]
    for start in range(0, len(batch), 5000):  # bounded transactions for big demo sets
        await store.insert(batch[start : start + 5000])
    return len(created)


def build_fixtures(config: ServerConfig, authority: TokenAuthority, base_url: str) -> dict[str, Any]:
    """The fixtures document: base URL and, per demo user, id, name, a long-lived token (and orders)."""
    ttl = config.token_ttl_s

    def token(user: DemoUser) -> str:
        return authority.issue(id=user.id, role=user.role, name=user.name, ttl_s=ttl)

    return {
        "base_url": base_url,
        "customers": [
            {"id": c.id, "name": c.name, "token": token(c), "orders": list(c.orders)}
            for c in demo_customers(config)
        ],
        "admins": [{"id": a.id, "name": a.name, "token": token(a)} for a in demo_admins(config)],
    }


def write_fixtures(path: str | Path, document: dict[str, Any]) -> None:
    """Write atomically: readers see either no file or the whole file, never half of one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=1)
            fh.write("\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
