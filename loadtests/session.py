"""A whole ``pollbench loadtest`` session: every strategy in turn, progress on screen, results on disk.

Writes ``OUT/summary.json`` (``source = "measured"``) and ``OUT/deliveries.parquet`` through
:mod:`pollbench.results`, prints a table per strategy (deliveries, gaps, latency percentiles, failures,
bytes), and checks the CI thresholds. Returns the process exit code: 0 ok, 1 a threshold failed.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from loadtests.runner import (
    LoadTestConfig,
    StrategyRun,
    check_fixtures,
    deliveries_columns,
    drain_seconds,
    run_with_server,
)
from loadtests.server_process import ServerError
from loadtests.thresholds import Thresholds, violations
from pollbench.commands import CommandError
from pollbench.results import Summary, machine_info, write_deliveries, write_summary
from pollbench.scenario import Scenario
from pollbench.strategies import Strategy

__all__ = ["results_table", "run_loadtest"]


def _fmt(x: float, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def results_table(runs: list[StrategyRun]) -> Table:
    """One row per strategy: what a reader of the run needs first."""
    table = Table(title="pollbench loadtest (measured)")
    for col in ("strategy", "delivered", "expected", "gaps", "dup", "p50 s", "p95 s", "p99 s", "failures",
                "req/s", "B/poll", "B/client/min", "B/delivery", "server CPU"):  # fmt: skip
        table.add_column(col, justify="left" if col == "strategy" else "right")
    for run in runs:
        r, e = run.result, run.result.extra
        table.add_row(
            run.strategy.spec,
            str(r.messages.delivered),
            str(r.messages.sent),
            str(e["gaps"]),
            str(e["duplicates"]),
            _fmt(r.latency_s.p50),
            _fmt(r.latency_s.p95),
            _fmt(r.latency_s.p99),
            f"{r.failures} ({e['fail_ratio']:.1%})",
            _fmt(r.requests_per_s, 1),
            "-" if r.bytes_per_poll is None else _fmt(r.bytes_per_poll, 0),
            _fmt(r.bytes_per_client_per_min, 0),
            _fmt(r.bytes_per_delivery, 0),
            "-" if math.isnan(r.server_utilization) else f"{r.server_utilization:.0%}",
        )
    return table


def _write(config: LoadTestConfig, scenario: Scenario, runs: list[StrategyRun]) -> Summary:
    """summary.json and deliveries.parquet of the strategies run so far."""
    from pollbench import __version__

    summary = Summary(
        source="measured",
        scenario=scenario.to_dict(),
        strategies={run.strategy.spec: run.result for run in runs},
        seed=config.seed,
        version=__version__,
        machine=machine_info(),
    )
    write_summary(config.out, summary)
    write_deliveries(config.out, deliveries_columns(runs))
    return summary


def _add_task(progress: Progress, config: LoadTestConfig, strategy: Strategy) -> tuple[Any, float]:
    drain = config.drain_s if config.drain_s is not None else drain_seconds(strategy, config.hidden_fraction)
    total = config.duration_s + drain
    return progress.add_task(f"{strategy.spec:<18}", total=total, info="starting server"), total


def run_loadtest(
    config: LoadTestConfig,
    strategies: tuple[Strategy, ...],
    scenario: Scenario,
    limits: Thresholds,
    console: Console | None = None,
) -> int:
    """Run every strategy, write the results, print them, check the thresholds."""
    import sys

    from pollbench.results import ResultsError

    # Rich falls back to 80 columns off a terminal, too narrow for the results table.
    console = console or Console(stderr=True, width=None if sys.stderr.isatty() else 170)
    if config.fixtures is not None:
        check_fixtures(config.fixtures, config.users)
    config.out.mkdir(parents=True, exist_ok=True)
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    ]
    # Longest first, so that parallel runs finish together; results keep the order the user gave.
    order = sorted(strategies, key=lambda s: -drain_seconds(s, config.hidden_fraction))
    done: dict[str, StrategyRun] = {}
    with Progress(*columns, console=console, transient=False) as progress:
        tasks = {s.spec: _add_task(progress, config, s) for s in strategies}

        cancel = threading.Event()

        def one(strategy: Strategy) -> StrategyRun:
            task, total = tasks[strategy.spec]

            def update(spec: str, elapsed: float, sample: dict[str, Any]) -> None:
                if cancel.is_set():  # Ctrl+C or SIGTERM in the main thread: unwind this strategy's run too
                    raise KeyboardInterrupt
                info = f"server CPU {sample['cpu']:.1f} s, {sample['conns']:.0f} conns" if sample else ""
                progress.update(task, completed=min(elapsed, total), info=info)

            run = run_with_server(config, strategy, update)
            r = run.result
            progress.update(
                task,
                completed=total,
                info=f"{r.messages.delivered} delivered, p99 {_fmt(r.latency_s.p99)} s, {r.failures} failed",
            )
            return run

        def failure(strategy: Strategy, exc: Exception) -> CommandError:
            finished = [done[s.spec] for s in strategies if s.spec in done]
            if finished:  # keep what the finished strategies measured
                _write(config, scenario, finished)
            return CommandError(f"{strategy.spec}: {exc}")

        workers = max(1, min(config.parallel, len(order))) if config.host is None else 1
        if workers == 1:
            for strategy in strategies:
                try:
                    done[strategy.spec] = one(strategy)
                except (ServerError, TimeoutError, ResultsError) as exc:
                    raise failure(strategy, exc) from None
        else:
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="strategy")
            try:
                futures = {pool.submit(one, s): s for s in order}
                for future in as_completed(futures):
                    strategy = futures[future]
                    try:
                        done[strategy.spec] = future.result()
                    except (ServerError, TimeoutError, ResultsError) as exc:
                        cancel.set()
                        raise failure(strategy, exc) from None
            except BaseException:
                cancel.set()  # running strategies kill their Locust and stop their server
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    runs = [done[s.spec] for s in strategies]
    summary = _write(config, scenario, runs)
    console.print(results_table(runs))
    out = config.out
    console.print(
        f"results: {out / 'summary.json'}, {out / 'deliveries.parquet'}, Locust reports in {out / 'locust'}"
    )
    failed = violations(summary.strategies, limits)
    for line in failed:
        console.print(f"[red]threshold failed:[/red] {line}")
    if limits.any and not failed:
        console.print("[green]all thresholds passed[/green]")
    return 1 if failed else 0
