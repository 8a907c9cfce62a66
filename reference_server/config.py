"""Server configuration: one frozen, keyword-only record of every knob the reference server has."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAX_BODY_BYTES", "MAX_CONTENT_CHARS", "ServerConfig"]

MAX_CONTENT_CHARS = 4000
"""Longest message content accepted, in characters (the API contract, not a tunable)."""

MAX_BODY_BYTES = 64 * 1024
"""Largest request body accepted; bigger bodies get 413."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """Everything ``create_app`` needs. Host and port live with the runner, not here: an app can be served
    anywhere (tests use ``aiohttp_client`` with no port at all)."""

    db_path: str = ":memory:"
    """SQLite file holding orders and messages; ``:memory:`` keeps everything in RAM (lost at exit)."""
    secret: str = ""
    """Token signing key (HMAC-SHA256). Empty means a random key per process: tokens die with it."""
    token_ttl_s: float = 7 * 24 * 3600.0
    """Lifetime of the tokens this server issues (fixtures, demo users)."""
    sse_heartbeat_s: float = 15.0
    """Seconds between SSE comment heartbeats that keep proxies from closing idle streams."""
    ws_heartbeat_s: float = 30.0
    """Seconds between WebSocket pings; a peer that misses a pong is disconnected."""
    longpoll_default_s: float = 30.0
    """Long-poll hold time when the client gives no ``timeout``."""
    longpoll_max_s: float = 60.0
    """Longest long-poll hold a client may ask for."""
    push_queue_max: int = 256
    """Messages buffered per SSE/WebSocket connection; a consumer that falls further behind is dropped
    (it resumes by cursor) instead of growing server memory without bound."""
    max_connections: int = 0
    """Cap on long-lived connections (SSE streams + WebSockets + parked long-polls) open at once; past it
    new ones get 503 ``overloaded`` with ``Retry-After`` while open ones keep working. Plain requests are
    never counted. 0 means no cap: this server is a measurement target, and a default cap would show up in
    a capacity search as 503s instead of the server's real limit (memory, file descriptors)."""
    body_timeout_s: float = 10.0
    """Longest wait for a request body to arrive (408 after it): a client whose Content-Length promises
    more than it sends cannot hold a handler forever."""
    retention_days: float = 30.0
    """Messages older than this are pruned, as the seed's TTL index does."""
    prune_interval_s: float = 3600.0
    """How often the pruner runs (it also runs once at start)."""
    token_cache_max: int = 100_000
    """Verified tokens remembered, so the hot poll path does not recompute an HMAC per request."""
    seed_customers: int = 0
    """Demo customers c1..cN to create at start (idempotent on an existing database)."""
    orders_per_customer: int = 3
    """Demo orders per customer, numbered o1, o2, ... in customer order."""
    seed_admins: int = 0
    """Demo admins a1..aA."""
    messages_per_order: int = 8
    """Demo messages per newly created order; 8 makes a full GET /api/messages about 2 KB, the seed's
    "~2KB per poll"."""

    def __post_init__(self) -> None:
        positive = {
            "token_ttl_s": self.token_ttl_s,
            "sse_heartbeat_s": self.sse_heartbeat_s,
            "ws_heartbeat_s": self.ws_heartbeat_s,
            "longpoll_default_s": self.longpoll_default_s,
            "longpoll_max_s": self.longpoll_max_s,
            "push_queue_max": self.push_queue_max,
            "body_timeout_s": self.body_timeout_s,
            "retention_days": self.retention_days,
            "prune_interval_s": self.prune_interval_s,
            "token_cache_max": self.token_cache_max,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        counts = {
            "seed_customers": self.seed_customers,
            "orders_per_customer": self.orders_per_customer,
            "seed_admins": self.seed_admins,
            "messages_per_order": self.messages_per_order,
            "max_connections": self.max_connections,
        }
        for name, value in counts.items():
            if value < 0:
                raise ValueError(f"{name} must be zero or more, got {value!r}")
        if self.longpoll_default_s > self.longpoll_max_s:
            raise ValueError("longpoll_default_s must not exceed longpoll_max_s")
