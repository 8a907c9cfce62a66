"""CI thresholds: the checks that turn a load test into a pass/fail gate.

Locust has no percentile thresholds of its own; pollbench checks the exact delivery records instead of
Locust's rounded stats. A strategy fails a threshold when its p99 or p95 delivery latency is above the
limit, when no message was delivered at all (nothing to judge is not a pass), or when its failed
requests exceed the allowed share. ``pollbench loadtest`` exits 1 when any check fails.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from pollbench.results import StrategyResult

__all__ = ["Thresholds", "violations"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    """Limits a run must stay within; None means not checked."""

    p99_delivery_s: float | None = None
    """Maximum p99 delivery latency, seconds."""
    p95_delivery_s: float | None = None
    """Maximum p95 delivery latency, seconds."""
    fail_ratio: float | None = None
    """Maximum share of failed requests (0.01 = 1 %)."""

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.p99_delivery_s, self.p95_delivery_s, self.fail_ratio))


def _latency(spec: str, name: str, value: float, limit: float | None) -> list[str]:
    if limit is None:
        return []
    if math.isnan(value):
        return [f"{spec}: no deliveries, so {name} cannot be checked against {limit:g} s"]
    if value > limit:
        return [f"{spec}: {name} delivery latency {value:.3f} s > {limit:g} s"]
    return []


def violations(results: Mapping[str, StrategyResult], limits: Thresholds) -> list[str]:
    """One sentence per failed check, in strategy order; empty when everything passed."""
    out: list[str] = []
    for spec, r in results.items():
        out += _latency(spec, "p99", r.latency_s.p99, limits.p99_delivery_s)
        out += _latency(spec, "p95", r.latency_s.p95, limits.p95_delivery_s)
        if limits.fail_ratio is not None:
            ratio = float(r.extra.get("fail_ratio", 0.0))
            if ratio > limits.fail_ratio:
                out.append(f"{spec}: failure ratio {ratio:.2%} > {limits.fail_ratio:.2%}")
    return out
