"""Judging one step of a capacity search: did N concurrent clients stay within the SLO?

A step runs N receiving clients for ``step_seconds``. Its verdict looks at the messages committed in
the step's *window*: after a warm-up (new clients connecting and settling) and before a tail (the time
the strategy needs to deliver a message, see :func:`drain_seconds`), so every message in the window had
a fair chance to arrive before the step ended. A message still missing at the end of the step counts
with the time it has waited so far — a lower bound — so an overloaded step cannot look fast by
delivering only its easy messages.

A step fails when the window's p99 delivery latency is above the SLO, when more than the allowed share
of requests failed, when the server process is saturated (CPU busy fraction above the bound), or when
the load generator itself is saturated (then the measured limit is Locust's, and the step says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from pollbench.results import latency_stats
from pollbench.strategies import Adaptive, LongPoll, Poll, SeedDashboard, Strategy

__all__ = ["StepLimits", "StepVerdict", "drain_seconds", "judge_step", "warm_up_seconds"]


def warm_up_seconds(strategy: Strategy, *, send_for_s: float, users: int, spawn_rate: float) -> float:
    """When a load test's steady window opens: every client started (the spawn ramp plus a second) and one
    slowest poll interval gone by, but at most half the sending, so the window is never empty."""
    ramp = users / max(spawn_rate, 0.1) + 1.0
    return min(send_for_s / 2, max(ramp, drain_seconds(strategy) - 2.0))


def drain_seconds(strategy: Strategy, hidden_fraction: float = 0.0) -> float:
    """How long a client may need to hold a message once it is committed (slowest poll + 2 s margin)."""
    if isinstance(strategy, Poll | SeedDashboard):
        return strategy.interval_s + 2.0
    if isinstance(strategy, Adaptive):
        worst = max(strategy.max_s, strategy.throttled_s if hidden_fraction > 0 else strategy.hidden_min_s)
        return worst + 2.0
    if isinstance(strategy, LongPoll):
        return 3.0
    return 3.0


@dataclass(frozen=True, slots=True, kw_only=True)
class StepLimits:
    """The SLO a step must meet."""

    p99_s: float
    """Maximum p99 delivery latency, seconds."""
    fail_ratio: float = 0.01
    """Maximum share of failed requests."""
    server_utilization: float = 0.9
    """Maximum CPU busy fraction of the server process."""
    generator_cpu_percent: float = 90.0
    """Above this, Locust (the load generator) is the bottleneck, not the server."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StepVerdict:
    """One row of the capacity table."""

    step: int
    users: int
    """Receiving clients during the step."""
    window_s: tuple[float, float]
    """Commit-time window judged (epoch seconds)."""
    messages: int
    """Messages committed in the window."""
    undelivered: int
    """Of those, messages not delivered by the end of the step."""
    p50_s: float
    p95_s: float
    p99_s: float
    requests: int
    failures: int
    fail_ratio: float
    server_utilization: float
    generator_cpu_percent: float
    ok: bool
    reasons: list[str] = field(default_factory=list)
    """Why the step failed (empty when it passed)."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["window_s"] = list(self.window_s)
        return d


def judge_step(
    *,
    step: int,
    users: int,
    window: tuple[float, float],
    step_end: float,
    sent: Sequence[tuple[str, int, float]],
    delivered: Sequence[tuple[str, int, float, float]],
    requests: int,
    failures: int,
    server_utilization: float,
    generator_cpu_percent: float,
    limits: StepLimits,
) -> StepVerdict:
    """The verdict of one step from the messages sent and delivered so far."""
    lo, hi = window
    got = {(o, s): received for o, s, _, received in delivered}
    latencies: list[float] = []
    undelivered = 0
    for order, seq, created in sent:
        if not lo <= created <= hi:
            continue
        received = got.get((order, seq))
        if received is None or received > step_end:
            undelivered += 1
            latencies.append(step_end - created)  # still waiting: a lower bound of its latency
        else:
            latencies.append(received - created)
    stats = latency_stats(np.asarray(latencies, dtype=float))
    ratio = failures / requests if requests else 0.0
    reasons = []
    if stats.count == 0:
        reasons.append("no message committed in the step's window")
    elif stats.p99 > limits.p99_s:
        reasons.append(f"p99 {stats.p99:.2f} s > {limits.p99_s:g} s")
    if ratio > limits.fail_ratio:
        reasons.append(f"failures {ratio:.1%} > {limits.fail_ratio:.0%}")
    if server_utilization > limits.server_utilization:
        reasons.append(f"server CPU {server_utilization:.0%} > {limits.server_utilization:.0%}")
    if generator_cpu_percent > limits.generator_cpu_percent:
        reasons.append(f"load generator CPU {generator_cpu_percent:.0f}% (Locust is the bottleneck)")
    return StepVerdict(
        step=step,
        users=users,
        window_s=window,
        messages=stats.count,
        undelivered=undelivered,
        p50_s=stats.p50,
        p95_s=stats.p95,
        p99_s=stats.p99,
        requests=requests,
        failures=failures,
        fail_ratio=ratio,
        server_utilization=server_utilization,
        generator_cpu_percent=generator_cpu_percent,
        ok=not reasons,
        reasons=reasons,
    )
