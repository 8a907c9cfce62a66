"""Shared fixtures: a real SQLite file per test, a fixed secret, two seeded customers and one admin."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from reference_server import ServerConfig, TokenAuthority, create_app

SECRET = "test-secret"


@dataclass(frozen=True)
class Users:
    """Tokens for the seeded users: c1 owns o1, o2; c2 owns o3, o4; a1 is an admin."""

    c1: str
    c2: str
    a1: str
    expired: str
    authority: TokenAuthority


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def cfg(tmp_path) -> ServerConfig:
    return ServerConfig(
        db_path=str(tmp_path / "chat.db"),
        secret=SECRET,
        seed_customers=2,
        orders_per_customer=2,
        seed_admins=1,
        messages_per_order=2,
        sse_heartbeat_s=0.2,
        ws_heartbeat_s=5.0,
    )


@pytest.fixture
def users() -> Users:
    authority = TokenAuthority(SECRET)
    return Users(
        c1=authority.issue(id="c1", role="customer", name="Customer 1", ttl_s=3600),
        c2=authority.issue(id="c2", role="customer", name="Customer 2", ttl_s=3600),
        a1=authority.issue(id="a1", role="admin", name="Admin 1", ttl_s=3600),
        expired=authority.issue(id="c1", role="customer", name="Customer 1", ttl_s=10, now=1000.0),
        authority=authority,
    )


@pytest.fixture
async def client(aiohttp_client, cfg):
    return await aiohttp_client(create_app(cfg))


async def read_sse_events(resp, count: int, *, timeout: float = 2.0) -> list[dict[str, str]]:
    """The next ``count`` events (comments skipped) as {"id", "event", "data"}; fails after ``timeout``."""
    import asyncio

    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    async with asyncio.timeout(timeout):
        while len(events) < count:
            line = (await resp.content.readline()).decode().rstrip("\n")
            if line == "":
                if current:
                    events.append(current)
                    current = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(": ")
                current[field] = value
    return events
