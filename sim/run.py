"""Run a scenario through the simulator: one Summary (source "sim") plus per-message delivery records.

``engine="fast"`` uses the bulk numpy models (sim.polling, sim.adaptive, sim.longpolling, sim.push);
``engine="des"`` the detailed SimPy reference model (sim.des), meant for small runs; ``"auto"`` picks the
SimPy model when the run is small enough for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from pollbench import __version__
from pollbench.results import StrategyResult, Summary, machine_info
from pollbench.scenario import Scenario
from pollbench.strategies import Strategy, parse_strategies
from sim.calibration import Calibration, load_calibration
from sim.context import RECORD_CAP, RunContext, build_context
from sim.energy import RadioModel
from sim.strategies import expected_requests, fast_model

__all__ = [
    "DES_MAX_REQUESTS",
    "Engine",
    "SimulationRun",
    "keep_freed_memory",
    "simulate",
    "simulate_strategy",
]

Engine = Literal["fast", "des", "auto"]
DES_MAX_REQUESTS = 200_000
"""Largest run (expected server jobs per strategy) that ``engine="auto"`` gives the SimPy model."""

StrategyProgress = Callable[[str, float], None]
"""Called with (strategy spec, fraction of that strategy done)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationRun:
    """A finished simulation: the summary and each strategy's (possibly sampled) delivery records."""

    summary: Summary
    """What goes into summary.json."""
    records: dict[str, dict[str, npt.NDArray[Any]]]
    """Per strategy, delivery records in pollbench.results.DELIVERY_COLUMNS layout."""

    def deliveries_columns(self) -> dict[str, npt.NDArray[Any]]:
        """All strategies' records concatenated, ready for pollbench.results.write_deliveries."""
        parts = list(self.records.values())
        keys = ("strategy", "client", "order_id", "seq", "created_at", "received_at", "latency_s")
        return {k: np.concatenate([p[k] for p in parts]) if parts else np.empty(0) for k in keys}


def simulate_strategy(
    strategy: Strategy,
    ctx: RunContext,
    *,
    engine: Engine = "fast",
    radio: RadioModel | None = None,
    progress: StrategyProgress | None = None,
) -> tuple[StrategyResult, dict[str, npt.NDArray[Any]]]:
    """Simulate one strategy on a prepared context."""
    expected = expected_requests(strategy, ctx)
    tally = ctx.new_tally(expected)
    chosen = engine if engine != "auto" else ("des" if expected <= DES_MAX_REQUESTS else "fast")

    def report(fraction: float) -> None:
        if progress:
            progress(strategy.spec, fraction)

    if chosen == "des":
        from sim.des import run_des

        run_des(strategy, ctx, tally, report)
    else:
        fast_model(strategy)(strategy, ctx, tally, report)
    tally.extra["engine"] = chosen
    recorded = int(tally.records(strategy.spec)["seq"].size)
    tally.extra["deliveries_recorded"] = recorded
    tally.extra["deliveries_sampled"] = recorded < tally.sent and len(ctx.pairs) > RECORD_CAP
    result = tally.result(is_push=strategy.is_push, radio=radio or RadioModel())
    return result, tally.records(strategy.spec)


def keep_freed_memory() -> None:
    """Ask glibc to reuse freed memory instead of returning big blocks to the OS at once.

    The fast path allocates and frees arrays of millions of floats per time window; by default glibc maps
    each one fresh from the kernel and every first touch of a page faults, which on sandboxed machines costs
    more than the arithmetic. A no-op where glibc is not the allocator.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: blocks below 1 GiB come from the reusable heap
        libc.mallopt(-1, 1 << 31)  # M_TRIM_THRESHOLD: keep up to 2 GiB of freed heap for reuse
    except (OSError, AttributeError):
        return


def simulate(
    scenario: Scenario,
    *,
    engine: Engine = "fast",
    calibration: Calibration | None = None,
    radio: RadioModel | None = None,
    progress: StrategyProgress | None = None,
) -> SimulationRun:
    """Simulate every strategy of `scenario`; the same clients and messages are used for each."""
    cal = calibration if calibration is not None else load_calibration(scenario.calibration)
    keep_freed_memory()
    ctx = build_context(scenario, cal)
    results: dict[str, StrategyResult] = {}
    records: dict[str, dict[str, npt.NDArray[Any]]] = {}
    for strategy in parse_strategies(scenario.strategies):
        results[strategy.spec], records[strategy.spec] = simulate_strategy(
            strategy, ctx, engine=engine, radio=radio, progress=progress
        )
    scen = scenario.to_dict()
    scen["calibration_values"] = cal.to_dict()
    summary = Summary(
        source="sim",
        scenario=scen,
        strategies=results,
        seed=scenario.seed,
        version=__version__,
        machine=machine_info(),
    )
    return SimulationRun(summary=summary, records=records)
