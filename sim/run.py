"""Run a scenario through the simulator: one Summary (source "sim") plus per-message delivery records.

``engine="fast"`` uses the bulk numpy models (sim.polling, sim.adaptive, sim.longpolling, sim.push);
``engine="des"`` the detailed SimPy reference model (sim.des), meant for small runs; ``"auto"`` picks the
SimPy model when the run is small enough for it.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from pollbench import __version__
from pollbench.results import StrategyResult, Summary, machine_info
from pollbench.scenario import Scenario
from pollbench.strategies import Strategy, parse_strategies
from sim.calibration import Calibration, load_calibration
from sim.connections import process_connections
from sim.context import RECORD_CAP, RunContext, build_context
from sim.energy import RadioModel
from sim.reconnect import storm_after_run
from sim.strategies import expected_cost_s, expected_requests, fast_model
from sim.tally import LoopRecord, Tally

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

_PR_SET_THP_DISABLE = 41
"""prctl option: no transparent huge pages for this process and its children (Linux >= 3.15)."""

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


def count_posts(ctx: RunContext, tally: Tally) -> None:
    """The senders' POSTs load the server whatever the delivery strategy: count them in its busy time.

    A POST (parse, validate, commit with fsync, fan out) costs several times a poll; with push, posts are
    most of the server's work. They enter the utilization, not the queue model (short jobs spread like the
    messages themselves), so queue waits are slightly optimistic at high load. Senders are spread over the
    processes like everyone else: each process handles its share at its own speed (connection factor and
    quota). A POST finds the loop idle as often as a moment picked at random does (Poisson commits see
    time averages), so its cold start is the loop's idle exposure over the run's length; the POSTs'
    own busy time is not taken out of that idle time (second order: at light load POSTs are rare against
    the idle time, at saturation there is none). A forced service time (``--service-time-ms``, the
    closed-form validations) models the receivers' requests alone.
    """
    if ctx.service.forced_ms is not None:
        return
    loops = tally.loops or [LoopRecord(scale=ctx.service.scale, exposure_s2=0.0, penalty_s=0.0)]
    share = ctx.posts / len(loops)
    busy = cold = 0.0
    for loop in loops:
        busy += share * ctx.service.mean("post") * loop.scale
        cold += share * loop.exposure_s2 / ctx.duration
    tally.busy_s += busy + cold
    tally.extra["post_busy_s"] = busy + cold
    tally.extra["post_cold_start_s"] = cold


def count_connections(strategy: Strategy, ctx: RunContext, tally: Tally) -> None:
    """Every connection the strategy's clients hold in steady state, open for the whole run (keep-alive
    between polls, parked long-polls, push streams): the same count for both engines."""
    pop = ctx.population
    held = sum(process_connections(strategy, pop, s) for s in range(pop.servers))
    tally.connection_s += held * ctx.duration
    quota = ctx.scenario.server_cpu_quota
    tally.extra["server_cpu_quota"] = quota
    factors = [ctx.process_service(strategy, s).connection_factor for s in range(pop.servers)]
    tally.extra["connection_factor"] = sum(factors) / len(factors)


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
    count_connections(strategy, ctx, tally)
    count_posts(ctx, tally)
    tally.extra["engine"] = chosen
    recorded = int(tally.records(strategy.spec)["seq"].size)
    tally.extra["deliveries_recorded"] = recorded
    tally.extra["deliveries_sampled"] = recorded < tally.sent and len(ctx.pairs) > RECORD_CAP
    result = tally.result(is_push=strategy.is_push, radio=radio or RadioModel())
    return result, tally.records(strategy.spec)


_FORKED: tuple[RunContext, Engine, RadioModel | None] | None = None
"""The context a forked worker inherits (set just before the pool forks; never read in the parent)."""


def _worker(strategy: Strategy) -> tuple[StrategyResult, dict[str, npt.NDArray[Any]]]:
    assert _FORKED is not None, "worker started without a forked context"
    ctx, engine, radio = _FORKED
    return simulate_strategy(strategy, ctx, engine=engine, radio=radio)


def _simulate_in_workers(
    strategies: tuple[Strategy, ...],
    ctx: RunContext,
    engine: Engine,
    radio: RadioModel | None,
    progress: StrategyProgress | None,
    workers: int,
) -> dict[str, tuple[StrategyResult, dict[str, npt.NDArray[Any]]]]:
    """Run strategies in forked processes, the most expensive first so the pool finishes together."""
    global _FORKED
    _FORKED = (ctx, engine, radio)
    heavy_first = sorted(strategies, key=lambda s: -expected_cost_s(s, ctx))
    out: dict[str, tuple[StrategyResult, dict[str, npt.NDArray[Any]]]] = {}
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = {pool.submit(_worker, s): s.spec for s in heavy_first}
            for future in as_completed(futures):
                out[futures[future]] = future.result()
                if progress:
                    progress(futures[future], 1.0)
    finally:
        _FORKED = None
    return out


def keep_freed_memory() -> None:
    """Ask glibc to reuse freed memory, and the kernel not to back this process with huge pages.

    The fast path allocates and frees arrays of millions of floats per time window; by default glibc maps
    each one fresh from the kernel and every first touch of a page faults, which on sandboxed machines costs
    more than the arithmetic. numpy also asks for transparent huge pages on big arrays; where the kernel
    compacts memory to find them (THP "defrag" on madvise) every 2 MiB fault stalls, which measured as most
    of the system time of a 100k-client run. Turning THP off for this process (inherited by the forked
    workers) cut a long-poll run's system time by ~3.5x. A no-op where glibc/Linux is not underneath.
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
        if sys.platform.startswith("linux"):
            libc.prctl(_PR_SET_THP_DISABLE, 1, 0, 0, 0)
    except (OSError, AttributeError):
        return


def simulate(
    scenario: Scenario,
    *,
    engine: Engine = "fast",
    calibration: Calibration | None = None,
    radio: RadioModel | None = None,
    progress: StrategyProgress | None = None,
    workers: int | None = None,
    restart_downtime_s: float | None = None,
) -> SimulationRun:
    """Simulate every strategy of `scenario`; the same clients and messages are used for each.

    Strategies are independent, so with `workers` > 1 (default: up to 2 for the fast path) they run in forked
    worker processes that share the run's context copy-on-write; results are identical to a serial run.
    With `restart_downtime_s`, each result also carries the reconnect storm of one process restarting after
    that downtime (sim.reconnect).
    """
    cal = calibration if calibration is not None else load_calibration(scenario.calibration)
    keep_freed_memory()
    ctx = build_context(scenario, cal)
    strategies = parse_strategies(scenario.strategies)
    if workers is None:
        workers = 1 if engine == "des" else min(2, os.cpu_count() or 1)
    if workers > 1 and len(strategies) > 1 and "fork" in multiprocessing.get_all_start_methods():
        done = _simulate_in_workers(strategies, ctx, engine, radio, progress, workers)
    else:
        done = {
            s.spec: simulate_strategy(s, ctx, engine=engine, radio=radio, progress=progress)
            for s in strategies
        }
    results = {s.spec: done[s.spec][0] for s in strategies}
    if restart_downtime_s is not None:
        results = {s.spec: storm_after_run(s, ctx, results[s.spec], restart_downtime_s) for s in strategies}
    records = {s.spec: done[s.spec][1] for s in strategies}
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
