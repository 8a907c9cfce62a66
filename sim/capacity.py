"""Capacity search: clients one server process holds under an SLO, and processes needed for M users.

For one strategy the SLO is met when the simulated p99 delivery latency stays under a bound, the event loop's
offered load stays under a utilization ceiling, and open connections (push streams, parked long-polls) fit a
memory budget. Feasibility falls as clients grow, so the largest feasible count is found by doubling until the
SLO breaks and then bisecting (to ~2 %). Servers for M users: pollbench.capacity.servers_needed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pollbench.results import StrategyResult
from pollbench.scenario import Scenario
from pollbench.strategies import Strategy
from sim.calibration import Calibration
from sim.context import build_context
from sim.run import simulate_strategy

__all__ = ["CapacityResult", "Slo", "max_clients_per_process"]

MAX_CLIENTS = 10_000_000
"""Search ceiling: a process holding more than this is reported as '>= MAX_CLIENTS'."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Slo:
    """What one server process must deliver."""

    p99_s: float = 15.0
    """Largest acceptable p99 delivery latency, seconds."""
    utilization: float = 0.7
    """Largest acceptable offered load of the event loop (busy fraction)."""
    memory_bytes: int = 2 * 1024**3
    """Memory the process may spend on open connections."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.p99_s) and self.p99_s > 0):
            raise ValueError(f"p99 SLO must be a positive number of seconds, got {self.p99_s!r}")
        if not (0 < self.utilization <= 1):
            raise ValueError(f"utilization SLO must be in (0, 1], got {self.utilization!r}")
        if self.memory_bytes <= 0:
            raise ValueError(f"memory budget must be positive, got {self.memory_bytes!r}")

    def violations(self, result: StrategyResult, memory_per_connection: int) -> list[str]:
        """Which bounds a simulated result breaks (empty when the SLO is met)."""
        broken = []
        if result.messages.sent and not result.latency_s.p99 <= self.p99_s:  # nothing delivered: broken
            broken.append("p99")
        if result.extra.get("offered_load", result.server_utilization) > self.utilization:
            broken.append("utilization")
        if result.open_connections * memory_per_connection > self.memory_bytes:
            broken.append("memory")
        return broken


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacityResult:
    """Capacity of one server process for one strategy."""

    strategy: str
    """Canonical strategy spec."""
    max_clients: int
    """Most clients one process holds within the SLO (0 if even one client breaks it)."""
    limited_by: list[str]
    """SLO bounds broken just above max_clients (empty if the search ceiling was hit)."""
    at_max: dict[str, float]
    """p99 latency, offered load and connection memory at max_clients."""
    evaluations: int
    """Simulations run by the search."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def max_clients_per_process(
    strategy: Strategy,
    base: Scenario,
    slo: Slo,
    calibration: Calibration,
    *,
    tolerance: float = 0.02,
    on_step: Callable[[int, bool], None] | None = None,
) -> CapacityResult:
    """Largest client count one process serves for `strategy` within `slo` (doubling, then bisection)."""
    evaluations = 0
    memo: dict[int, tuple[bool, list[str], dict[str, float]]] = {}

    def check(n: int) -> bool:
        nonlocal evaluations
        if n not in memo:
            evaluations += 1
            scenario = base.override(clients=n, server_processes=1, strategies=[strategy.spec])
            ctx = build_context(scenario, calibration)
            result, _ = simulate_strategy(strategy, ctx, engine="fast")
            broken = slo.violations(result, calibration.memory_per_connection_bytes)
            memo[n] = (
                not broken,
                broken,
                {
                    "p99_s": result.latency_s.p99,
                    "offered_load": float(result.extra.get("offered_load", result.server_utilization)),
                    "connection_memory_bytes": result.open_connections
                    * calibration.memory_per_connection_bytes,
                },
            )
            if on_step:
                on_step(n, not broken)
        return memo[n][0]

    if not check(1):
        return CapacityResult(
            strategy=strategy.spec,
            max_clients=0,
            limited_by=memo[1][1],
            at_max=memo[1][2],
            evaluations=evaluations,
        )
    good, bad = 1, None
    n = 64
    while n <= MAX_CLIENTS:
        if check(n):
            good, n = n, n * 2
        else:
            bad = n
            break
    if bad is None:
        return CapacityResult(
            strategy=strategy.spec,
            max_clients=good,
            limited_by=[],
            at_max=memo[good][2],
            evaluations=evaluations,
        )
    while bad - good > max(1, int(good * tolerance)):
        mid = (good + bad) // 2
        if check(mid):
            good = mid
        else:
            bad = mid
    return CapacityResult(
        strategy=strategy.spec,
        max_clients=good,
        limited_by=memo[bad][1],
        at_max=memo[good][2],
        evaluations=evaluations,
    )
