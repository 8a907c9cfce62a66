"""The windows of a load test: when its steady window opens, and how long receivers need to drain.

A run's senders post for a while; its receivers need the strategy's slowest poll (plus a margin) to hold a
message once it is committed (:func:`drain_seconds`), and its steady window opens once every client has
started and polled at least once (:func:`warm_up_seconds`). A knee search's probes use the same drain as
the tail after their judged window.
"""

from __future__ import annotations

from pollbench.strategies import Adaptive, Strategy

__all__ = ["drain_seconds", "warm_up_seconds"]

DRAIN_MARGIN_S = 2.0
"""Seconds beyond the worst idle wait a receiver is given to hold a committed message."""
PUSH_DRAIN_S = 3.0
"""Least drain of any strategy: a held request or a stream still needs the commit and a round trip."""


def warm_up_seconds(strategy: Strategy, *, send_for_s: float, users: int, spawn_rate: float) -> float:
    """When a load test's steady window opens: every client started (the spawn ramp plus a second) and one
    slowest poll interval gone by, but at most half the sending, so the window is never empty."""
    ramp = users / max(spawn_rate, 0.1) + 1.0
    return min(send_for_s / 2, max(ramp, drain_seconds(strategy) - 2.0))


def drain_seconds(strategy: Strategy, hidden_fraction: float = 0.0) -> float:
    """How long a client may need to hold a message once it is committed (slowest poll + 2 s margin; a
    hidden adaptive tab's throttled timer where some tabs are hidden)."""
    worst = strategy.worst_wait_s
    if isinstance(strategy, Adaptive):
        worst = max(worst, strategy.throttled_s if hidden_fraction > 0 else strategy.hidden_min_s)
    return max(PUSH_DRAIN_S, worst + DRAIN_MARGIN_S)
