"""Baselines: the per-strategy figures a CI run is checked against.

A baseline is either any ``summary.json`` (simulated or measured) or a small baseline file written by
``pollbench check --update-baseline``::

    {"pollbench_baseline": 1,
     "created": "2026-11-26T04:00:00Z",
     "runs": [
        {"source": "sim", "seed": 1, "clients": 500, "calibration_s": null,
         "strategies": {"poll:3": {"latency_s.p50": 1.51, "latency_s.p95": 2.9, "bytes_per_poll": 420.0}}}]}

One entry in ``runs`` per source and planning workload: a run of a named planning workload (``"workload":
"seed-chat"``, a comparison's ``plan/``) is kept apart from the source's other run, under the key
``sim:seed-chat``; a comparison's agreement load and runs naming no workload are keyed by the source alone.
``calibration_s`` is the same-run calibration figure (seconds a fixed
reference workload took on that machine, read from ``machine.calibration_s`` of the summary); when both the
baseline and the new run have one, timing metrics are compared after dividing by it, which cancels a faster or
slower CI runner. Metrics are named by their dotted path in summary.json (see reports.load.METRIC_COLUMNS).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pollbench.results import ResultsError, Summary, read_summary
from pollbench.workload import AGREEMENT_WORKLOAD, workload_of
from reports.load import METRIC_COLUMNS, ResultSet, flatten_strategy

__all__ = [
    "BASELINE_SCHEMA",
    "Baseline",
    "BaselineRun",
    "baseline_from_results",
    "calibration_of",
    "read_baseline",
    "run_key",
    "write_baseline",
]

BASELINE_SCHEMA = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class BaselineRun:
    """The figures of one source (sim or measured) in a baseline."""

    source: str
    """'sim' or 'measured'."""
    seed: int | None
    """Seed of the run; simulated runs at the same seed are compared tightly."""
    clients: int
    """Clients in the run's scenario."""
    calibration_s: float | None
    """Same-run calibration figure, seconds; None when the run had none."""
    strategies: dict[str, dict[str, float]]
    """Strategy spec -> metric path -> value (NaN where the run had no figure)."""
    workload: str = ""
    """The planning workload the run is for ('' for the agreement load or a run naming none)."""

    @property
    def key(self) -> str:
        return run_key(self.source, self.workload)


def run_key(source: str, workload: str) -> str:
    """How a baseline names a run: ``sim``, or ``sim:seed-chat`` for a run of a planning workload."""
    return source if workload in ("", AGREEMENT_WORKLOAD) else f"{source}:{workload}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Baseline:
    """Every run of a baseline, keyed by source."""

    runs: dict[str, BaselineRun]
    """Run key (run_key) -> its figures."""


def calibration_of(summary: Summary) -> float | None:
    """The summary's same-run calibration figure (``machine.calibration_s``), if positive and finite."""
    value = summary.machine.get("calibration_s")
    try:
        x = float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) and x > 0 else None


def _run_from_summary(summary: Summary) -> BaselineRun:
    workload = workload_of(summary.scenario)
    return BaselineRun(
        workload="" if workload == AGREEMENT_WORKLOAD else workload,
        source=summary.source,
        seed=summary.seed,
        clients=int(summary.scenario.get("clients", 0) or 0),
        calibration_s=calibration_of(summary),
        strategies={
            name: {k: float(v) for k, v in flatten_strategy(res).items()}
            for name, res in summary.strategies.items()
        },
    )


def baseline_from_results(results: ResultSet) -> Baseline:
    """A baseline holding the figures of `results` (one run per source and planning workload)."""
    runs: dict[str, BaselineRun] = {}
    for label, summary in results.summaries.items():
        run = _run_from_summary(summary)
        if run.key in runs:
            raise ResultsError(
                f"two {run.key} runs in the results (one is {label}); "
                "a baseline holds one run per source and planning workload"
            )
        runs[run.key] = run
    return Baseline(runs=runs)


def _jsonable(x: float) -> float | None:
    return x if math.isfinite(x) else None


def write_baseline(path: str | Path, baseline: Baseline) -> Path:
    """Write `baseline` as a baseline JSON file; returns its path."""
    target = Path(path)
    doc = {
        "pollbench_baseline": BASELINE_SCHEMA,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "runs": [
            {
                "source": run.source,
                **({"workload": run.workload} if run.workload else {}),
                "seed": run.seed,
                "clients": run.clients,
                "calibration_s": run.calibration_s,
                "strategies": {
                    name: {k: _jsonable(v) for k, v in metrics.items()}
                    for name, metrics in run.strategies.items()
                },
            }
            for run in baseline.runs.values()
        ],
    }
    if target.parent != Path(""):
        target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return target


def _metrics(name: str, raw: Any, path: Path) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise ResultsError(f"{path}: strategy {name!r} must map metric names to numbers")
    unknown = sorted(set(raw) - set(METRIC_COLUMNS))
    if unknown:
        raise ResultsError(f"{path}: strategy {name!r} has unknown metric(s) {', '.join(unknown)}")
    try:
        return {k: math.nan if v is None else float(v) for k, v in raw.items()}
    except (TypeError, ValueError):
        raise ResultsError(f"{path}: strategy {name!r} has a metric that is not a number") from None


def _run_from_doc(raw: Any, path: Path) -> BaselineRun:
    if not isinstance(raw, dict) or raw.get("source") not in ("sim", "measured"):
        raise ResultsError(f"{path}: each baseline run needs 'source' of 'sim' or 'measured'")
    strategies = raw.get("strategies")
    if not isinstance(strategies, dict):
        raise ResultsError(f"{path}: baseline run {raw['source']!r} has no 'strategies' mapping")
    cal = raw.get("calibration_s")
    return BaselineRun(
        workload=str(raw.get("workload") or ""),
        source=raw["source"],
        seed=raw.get("seed"),
        clients=int(raw.get("clients", 0) or 0),
        calibration_s=float(cal) if isinstance(cal, int | float) and cal > 0 else None,
        strategies={str(n): _metrics(str(n), m, path) for n, m in strategies.items()},
    )


def read_baseline(path: str | Path) -> Baseline:
    """Read a baseline file or a summary.json; raises ResultsError with a sentence on anything else."""
    p = Path(path)
    if p.is_dir():
        p = p / "summary.json"
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{p}: no such baseline file (create one with --update-baseline)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{p}: baseline is not valid JSON ({exc})") from None
    if isinstance(doc, dict) and "pollbench_baseline" in doc:
        runs_raw = doc.get("runs")
        if not isinstance(runs_raw, list) or not runs_raw:
            raise ResultsError(f"{p}: baseline has no 'runs' list")
        runs = [_run_from_doc(r, p) for r in runs_raw]
        return Baseline(runs={r.key: r for r in runs})
    if isinstance(doc, dict) and "source" in doc:
        run = _run_from_summary(read_summary(p))
        return Baseline(runs={run.key: run})
    raise ResultsError(f"{p}: neither a pollbench baseline nor a summary.json")
