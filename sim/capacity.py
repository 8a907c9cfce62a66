"""Simulated capacity: the knee of one server process, searched and judged as a measured knee is.

A probe simulates `n` clients of the scenario on one process (fast path) and judges the result with the
shared :class:`pollbench.capacity.Slo`; :func:`pollbench.capacity.search_knee` grows and bisects.
:func:`replay` simulates exactly the client counts a measured search probed, so every measured step can
be shown next to its simulated twin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from pollbench.capacity import (
    MIN_MESSAGE_RATE,
    CapacityReport,
    Knee,
    KneeStep,
    Slo,
    knee_from_search,
    probe_scenario,
    search_knee,
    with_full_core,
)
from pollbench.results import StrategyResult, machine_info
from pollbench.scenario import Scenario
from pollbench.strategies import Strategy
from sim.calibration import Calibration
from sim.context import build_context
from sim.run import simulate_strategy

__all__ = [
    "GROWTH",
    "MAX_CLIENTS",
    "START",
    "TOLERANCE",
    "replay",
    "simulated_capacity",
    "simulated_knee",
    "simulated_step",
]

START = 64
"""First client count of a simulated search."""
GROWTH = 2.0
"""Factor between client counts while growing."""
TOLERANCE = 0.02
"""Bisect until the first failing count is within this share of the last good one."""
MAX_CLIENTS = 10_000_000
"""Search ceiling: a process holding more than this is reported as a ceiling."""

OnStep = Callable[[KneeStep], None]
"""Called with every simulated probe as soon as it is judged."""


def simulated_step(
    strategy: Strategy,
    base: Scenario,
    slo: Slo,
    calibration: Calibration,
    clients: int,
    *,
    min_message_rate: float = MIN_MESSAGE_RATE,
) -> KneeStep:
    """`clients` of the workload on one process running `strategy`, simulated and judged by `slo`.

    The probe's scenario is the measured search's (:func:`pollbench.capacity.probe_scenario`: customers
    only, every message to its order's customer, at least `min_message_rate` messages a second).
    Utilization is the busy share of the process's quota (its offered load, which may exceed 1); memory is
    the idle server's RSS plus its connections (keep-alive and streams at their calibrated sizes); a
    simulation has no failed requests.
    """
    scenario = probe_scenario(base, clients, min_message_rate=min_message_rate).override(
        strategies=[strategy.spec]
    )
    result, _ = simulate_strategy(strategy, build_context(scenario, calibration), engine="fast")
    return judged(strategy, result, slo, calibration, clients=clients, duration_s=scenario.duration)


def judged(
    strategy: Strategy,
    result: StrategyResult,
    slo: Slo,
    calibration: Calibration,
    *,
    clients: int,
    duration_s: float,
) -> KneeStep:
    """The :class:`KneeStep` of one simulated result."""
    offered = float(result.extra.get("offered_load", result.server_utilization))
    memory = float(result.extra.get("connection_memory_bytes", 0.0))
    rss = calibration.baseline_rss_bytes + memory
    broken = slo.judge(
        strategy,
        p99_s=result.latency_s.p99,
        messages=result.messages.delivered,
        utilization=offered,
        fail_ratio=0.0,
        open_connections=result.open_connections,
        connection_limit=calibration.connection_limit,
        rss_bytes=rss,
    )
    keys = ("connection_factor", "server_cpu_quota", "cold_start_busy_s", "post_busy_s", "streams")
    return KneeStep(
        clients=clients,
        p50_s=result.latency_s.p50,
        p99_s=result.latency_s.p99,
        server_utilization=offered,
        open_connections=result.open_connections,
        rss_bytes=rss,
        fail_ratio=0.0,
        ok=not broken,
        limited_by=broken,
        messages=result.messages.delivered,
        detail={
            "offered_load": offered,
            "connection_memory_bytes": memory,
            "baseline_rss_bytes": float(calibration.baseline_rss_bytes),
            "connection_limit": calibration.connection_limit,
            "requests_per_s": result.requests_per_s,
            "queue_wait_p99_s": result.queue_wait_s.p99,
            "duration_s": duration_s,
            **{k: result.extra[k] for k in keys if k in result.extra},
        },
    )


def replay(
    strategy: Strategy,
    base: Scenario,
    slo: Slo,
    calibration: Calibration,
    clients: Iterable[int],
    *,
    min_message_rate: float = MIN_MESSAGE_RATE,
    on_step: OnStep | None = None,
) -> tuple[KneeStep, ...]:
    """Simulate exactly these client counts (a measured search's probes, in its order)."""
    steps = []
    for n in clients:
        step = simulated_step(strategy, base, slo, calibration, n, min_message_rate=min_message_rate)
        if on_step:
            on_step(step)
        steps.append(step)
    return tuple(steps)


def simulated_knee(
    strategy: Strategy,
    base: Scenario,
    slo: Slo,
    calibration: Calibration,
    *,
    start: int = START,
    growth: float = GROWTH,
    tolerance: float = TOLERANCE,
    ceiling: int = MAX_CLIENTS,
    min_message_rate: float = MIN_MESSAGE_RATE,
    on_step: OnStep | None = None,
) -> Knee:
    """The knee of `strategy` on one process of the scenario (its quota), with its whole-core figures."""

    def probe(n: int) -> KneeStep:
        step = simulated_step(strategy, base, slo, calibration, n, min_message_rate=min_message_rate)
        if on_step:
            on_step(step)
        return step

    outcome = search_knee(
        probe, start=min(start, ceiling), ceiling=ceiling, growth=growth, tolerance=tolerance
    )
    knee = knee_from_search(
        outcome, strategy=strategy.spec, source="sim", server_cpu_quota=base.server_cpu_quota
    )
    limit = min(slo.connections or calibration.connection_limit, calibration.connection_limit)
    return with_full_core(knee, connection_limit=limit, memory_budget_bytes=slo.memory_bytes)


def simulated_capacity(
    strategies: Sequence[Strategy],
    base: Scenario,
    slo: Slo,
    calibration: Calibration,
    *,
    workload: str,
    min_message_rate: float = MIN_MESSAGE_RATE,
    on_step: Callable[[str, KneeStep], None] | None = None,
) -> CapacityReport:
    """Every strategy's simulated knee as one capacity report (what ``capacity.json`` holds)."""
    knees = []
    for strategy in strategies:

        def report(step: KneeStep, spec: str = strategy.spec) -> None:
            if on_step:
                on_step(spec, step)

        knees.append(
            simulated_knee(
                strategy, base, slo, calibration, min_message_rate=min_message_rate, on_step=report
            )
        )
    scenario = base.to_dict()
    scenario["calibration_values"] = calibration.to_dict()
    return CapacityReport(
        source="sim",
        workload=workload,
        scenario=scenario,
        slo=slo,
        knees=tuple(knees),
        machine=machine_info(),
    )
