"""Reconnect policy: how a client waits before it tries again after a failed request or a dropped stream.

Defined once here and used by every client that retries: the audit's clients, the Locust users and the
simulator's reconnect-storm model. Capped exponential backoff with full jitter: attempt ``n`` (0-based)
waits a uniform time in ``[0, min(cap, initial * factor**n)]``. Full jitter spreads a crowd of clients that
all lost the same server over the whole window, which is what keeps a restart from turning into a
synchronized reconnect storm.

    policy = Backoff()                      # 0.5 s doubling to 10 s
    delay = policy.delay(attempt, rng)      # rng: numpy Generator or random.Random
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

__all__ = ["DEFAULT_BACKOFF", "Backoff", "UniformSource"]


class UniformSource(Protocol):
    """Anything with ``uniform(low, high)``: ``random.Random`` or ``numpy.random.Generator``."""

    def uniform(self, low: float, high: float) -> float: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Capped exponential backoff with full jitter."""

    initial_s: float = 0.5
    """Ceiling of the first retry's wait, seconds."""
    factor: float = 2.0
    """Growth of the ceiling per failed attempt."""
    cap_s: float = 10.0
    """Largest ceiling, seconds: a client never waits longer than this between attempts."""
    jitter: bool = True
    """Full jitter (uniform in [0, ceiling]); False waits exactly the ceiling (useful only in tests)."""

    def __post_init__(self) -> None:
        if not self.initial_s > 0:
            raise ValueError(f"initial_s must be > 0, got {self.initial_s!r}")
        if not self.factor >= 1:
            raise ValueError(f"factor must be >= 1, got {self.factor!r}")
        if not self.cap_s >= self.initial_s:
            raise ValueError(f"cap_s must be >= initial_s ({self.initial_s}), got {self.cap_s!r}")

    def ceiling(self, attempt: int) -> float:
        """The longest wait before retry number ``attempt`` (0 = first retry), seconds."""
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt}")
        # Stop multiplying once past the cap so huge attempt counts cannot overflow.
        ceiling = self.initial_s
        for _ in range(attempt):
            ceiling *= self.factor
            if ceiling >= self.cap_s:
                return self.cap_s
        return min(ceiling, self.cap_s)

    def delay(self, attempt: int, rng: UniformSource | None = None) -> float:
        """Seconds to wait before retry number ``attempt``; ``rng`` defaults to the module's random."""
        ceiling = self.ceiling(attempt)
        if not self.jitter:
            return ceiling
        source: UniformSource = rng if rng is not None else random
        return float(source.uniform(0.0, ceiling))

    def mean_delay(self, attempt: int) -> float:
        """Expected wait before retry number ``attempt`` (half the ceiling with full jitter)."""
        ceiling = self.ceiling(attempt)
        return ceiling / 2 if self.jitter else ceiling


DEFAULT_BACKOFF = Backoff()
"""The policy every pollbench client uses unless told otherwise."""
