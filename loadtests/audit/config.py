"""What one loss audit runs: which strategies listen, how many orders and messages, how long, how often the
server is killed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from pollbench.reconnect import DEFAULT_BACKOFF, Backoff
from pollbench.strategies import Strategy

__all__ = ["PLAN_SHARE", "AuditConfig"]

PLAN_SHARE = 0.95
"""Share of the sending phase the planned posts are spread over."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditConfig:
    """Every input of a loss audit. The defaults are the issue's: 10 000 messages over 500 orders."""

    strategies: tuple[Strategy, ...]
    """Receivers of each strategy watch every order (one receiver per customer per strategy)."""
    orders: int = 500
    """Orders the senders post to (o1..oN)."""
    messages: int = 10_000
    """Messages to post, spread evenly over the orders and over the sending phase."""
    duration_s: float = 60.0
    """Length of the sending phase; posts not started by then are not sent."""
    kill_every_s: float | None = None
    """SIGKILL and restart the server this often during the sending phase; None never kills it."""
    drain_s: float = 60.0
    """After sending, how long receivers may take to catch up before the audit reconciles anyway."""
    retry_grace_s: float = 30.0
    """After sending, how long a post still retrying (its server died) may keep trying."""
    orders_per_customer: int = 5
    """Orders owned by each demo customer (so each receiver watches this many)."""
    senders: int = 256
    """Most posts in flight at once (each post is sent, and retried, on its own)."""
    seed: int = 0
    """Seeds the post plan (orders, sender identities) and every client's backoff jitter."""
    backoff: Backoff = field(default=DEFAULT_BACKOFF)
    """Retry policy of every client and sender."""
    workdir: Path | None = None
    """Where the database and server log go; None: a temporary directory removed afterwards."""
    host: str | None = None
    """Audit this running server (checked by pollbench.targets) instead of starting one; never killed."""
    fixtures: Path | None = None
    """Fixtures file of ``host`` (its customers' tokens and orders, and its admins)."""

    def __post_init__(self) -> None:
        if not self.strategies:
            raise ValueError("at least one strategy is needed")
        for name in ("orders", "messages", "orders_per_customer", "senders"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("duration_s", "drain_s", "retry_grace_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.host is not None and (self.fixtures is None or self.kill_every_s is not None):
            raise ValueError("a --host audit needs its fixtures and cannot kill a server it did not start")
        if self.kill_every_s is not None and not (math.isfinite(self.kill_every_s) and self.kill_every_s > 0):
            raise ValueError(f"kill_every_s must be a positive number of seconds, got {self.kill_every_s!r}")

    @property
    def customers(self) -> int:
        """Demo customers needed so that their orders cover o1..oN."""
        return math.ceil(self.orders / self.orders_per_customer)

    @property
    def rate_per_s(self) -> float:
        """Posts per second that spread the messages over the first 95 % of the sending phase; the last
        5 % is room for posts that fell behind (a crash, a busy machine) to still be started."""
        return self.messages / (PLAN_SHARE * self.duration_s)
