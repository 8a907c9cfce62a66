"""How a Locust user waits before trying again: one attempt counter per retry loop, delays from THE policy.

A browser tab that lost its server retries per :class:`pollbench.reconnect.Backoff` (capped exponential,
full jitter): the ``n``-th failure in a row waits ``policy.delay(n)``, a success starts the count again.
Each user draws its jitter from its own ``random.Random`` seeded from the run seed and its global index
(:func:`client_rng`), so a rerun with the same seed retries at the same offsets, and Locust's gevent
scheduling never shares one stream between users.

Deliberately free of Locust and gevent: the users pass ``gevent.sleep`` in, the tests a recorder.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from pollbench.reconnect import DEFAULT_BACKOFF, Backoff

__all__ = ["Retry", "client_rng"]


def client_rng(seed: int, index: int) -> random.Random:
    """The random stream of receiving client `index` of a run seeded `seed` (phases, hidden tabs, jitter)."""
    return random.Random(seed * 1_000_003 + index)


class Retry:
    """One retry loop's state: failures in a row, the policy, and the stream its jitter comes from."""

    __slots__ = ("attempt", "policy", "rng", "_sleep")

    def __init__(
        self,
        rng: random.Random,
        sleep: Callable[[float], object],
        policy: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self.rng = rng
        self.policy = policy
        self._sleep = sleep
        self.attempt = 0
        """Failures since the last success; the next wait is ``policy.delay(attempt)``."""

    @property
    def pending(self) -> bool:
        """True from a failure until the next success: the client is backing off."""
        return self.attempt > 0

    def next_delay(self) -> float:
        """Draw the wait after one more failure and count that failure (no sleeping)."""
        delay = self.policy.delay(self.attempt, self.rng)
        self.attempt += 1
        return delay

    def wait(self) -> float:
        """After a failure: count it, then sleep the policy's delay; returns the delay slept."""
        # Counted before sleeping, so other greenlets of the same client see it backing off meanwhile.
        delay = self.next_delay()
        self._sleep(delay)
        return delay

    def succeeded(self) -> None:
        """A request went through: the next failure waits the first, shortest ceiling again."""
        self.attempt = 0
