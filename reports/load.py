"""Loading results directories into one set of tidy pandas tables.

A results directory is what the simulator or the load tests write: ``summary.json``, ``deliveries.parquet``
(optional, one row per delivered message) and ``capacity.json`` (optional, knees in capacity schema 2, see
:mod:`reports.capacity`). A directory holding only ``capacity.json`` (a knee search's) is loaded for its
knees. A directory that is neither, such as a comparison's ``out/`` (``out/sim``, ``out/measured``,
``out/plan``, ``out/knees/measured``...), is loaded as the results directories below it, two levels deep.

Every run becomes rows of :attr:`ResultSet.runs` — one row per (run, strategy) with every metric flattened
under its dotted JSON path (``latency_s.p95``, ``queue_wait_s.mean``, ``messages.sent``) and the workload
the run is for — so a simulated and a measured run line up column for column.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pollbench.capacity import CapacityReport
from pollbench.results import DELIVERY_COLUMNS, ResultsError, StrategyResult, Summary, read_summary
from pollbench.workload import workload_of
from reports.capacity import CAPACITY_FILE, knee_table, load_capacity, step_table

__all__ = ["METRIC_COLUMNS", "ResultSet", "find_results_dirs", "flatten_strategy", "load_results"]

METRIC_COLUMNS: tuple[str, ...] = (
    "latency_s.mean",
    "latency_s.p50",
    "latency_s.p95",
    "latency_s.p99",
    "latency_s.max",
    "latency_s.count",
    "requests_per_s",
    "empty_poll_fraction",
    "bytes_per_client_per_min",
    "bytes_per_delivery",
    "bytes_per_poll",
    "server_utilization",
    "queue_wait_s.mean",
    "queue_wait_s.p99",
    "open_connections",
    "energy_j_per_client_hour",
    "messages.sent",
    "messages.delivered",
    "failures",
)
"""Every numeric metric of a StrategyResult, by its dotted path in summary.json."""

_RUN_COLUMNS = (
    "run",
    "source",
    "workload",
    "dir",
    "strategy",
    "clients",
    "orders_per_client",
    "server_processes",
    "seed",
    "duration_s",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResultSet:
    """Every loaded run as DataFrames sharing one schema."""

    runs: pd.DataFrame
    """One row per (run, strategy): run identity columns, then METRIC_COLUMNS, then ``extra`` (a dict)."""
    deliveries: pd.DataFrame
    """DELIVERY_COLUMNS plus ``run`` and ``source``; empty when no run had deliveries.parquet."""
    capacity: pd.DataFrame
    """Every probe of every knee (reports.capacity.STEP_COLUMNS); empty when no capacity.json was found."""
    knees: pd.DataFrame
    """Every knee (reports.capacity.KNEE_COLUMNS); empty when no capacity.json was found."""
    summaries: dict[str, Summary]
    """The parsed summary of each run, keyed by run label."""
    capacity_reports: dict[str, CapacityReport]
    """Each capacity.json as read by pollbench.capacity.read_capacity, keyed by run label."""

    @property
    def sources(self) -> tuple[str, ...]:
        """Sources present, simulated first."""
        present = set(self.runs["source"]) if len(self.runs) else set()
        return tuple(s for s in ("sim", "measured") if s in present)

    @property
    def strategies(self) -> tuple[str, ...]:
        """Strategy specs present, in the order first seen."""
        return tuple(dict.fromkeys(self.runs["strategy"])) if len(self.runs) else ()


def flatten_strategy(result: StrategyResult) -> dict[str, Any]:
    """Every metric of one StrategyResult under its dotted path (None for bytes_per_poll becomes NaN)."""
    lat, qw, msgs = result.latency_s, result.queue_wait_s, result.messages
    bpp = result.bytes_per_poll
    return {
        "latency_s.mean": lat.mean,
        "latency_s.p50": lat.p50,
        "latency_s.p95": lat.p95,
        "latency_s.p99": lat.p99,
        "latency_s.max": lat.max,
        "latency_s.count": lat.count,
        "requests_per_s": result.requests_per_s,
        "empty_poll_fraction": result.empty_poll_fraction,
        "bytes_per_client_per_min": result.bytes_per_client_per_min,
        "bytes_per_delivery": result.bytes_per_delivery,
        "bytes_per_poll": float("nan") if bpp is None else bpp,
        "server_utilization": result.server_utilization,
        "queue_wait_s.mean": qw.mean,
        "queue_wait_s.p99": qw.p99,
        "open_connections": result.open_connections,
        "energy_j_per_client_hour": result.energy_j_per_client_hour,
        "messages.sent": msgs.sent,
        "messages.delivered": msgs.delivered,
        "failures": result.failures,
    }


def _is_results_dir(path: Path) -> bool:
    """A directory with its own summary.json (a comparison's top-level one only points at its parts), or
    with a capacity.json alone (a knee search's)."""
    summary = path / "summary.json"
    if not summary.is_file():
        return (path / CAPACITY_FILE).is_file()
    try:
        with summary.open("rb") as f:
            head = f.read(200)
    except OSError:
        return True  # let read_summary report the problem
    return b'"kind": "pollbench-compare"' not in head


def _below(parent: Path, depth: int) -> list[Path]:
    """Results directories under `parent`, looking `depth` levels down past directories that are none.

    Direct children come first, so they keep the short labels (``measured``) and a deeper namesake is
    widened (``knees/measured``).
    """
    children = sorted(c for c in parent.iterdir() if c.is_dir())
    found = [c for c in children if _is_results_dir(c)]
    if depth > 1:
        for child in children:
            if not _is_results_dir(child):
                found.extend(_below(child, depth - 1))
    return found


def find_results_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """The results directories named by `paths`, expanding a parent of results directories two levels."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file() and p.name == "summary.json":
            p = p.parent
        if not p.exists():
            raise ResultsError(f"{p}: no such directory")
        if not p.is_dir():
            raise ResultsError(f"{p}: not a directory; give a results directory holding summary.json")
        if _is_results_dir(p):
            found.append(p)
            continue
        children = _below(p, 2)
        if not children:
            raise ResultsError(f"{p}: no summary.json here or in its subdirectories; not a results directory")
        found.extend(children)
    return found


def _unique_label(path: Path, taken: set[str]) -> str:
    """A short run label: the directory name, widened with its parent when two runs share a name."""
    label = path.name or str(path)
    if label in taken:
        label = f"{path.parent.name}/{path.name}"
    base, n = label, 2
    while label in taken:
        label, n = f"{base}#{n}", n + 1
    taken.add(label)
    return label


def _run_rows(label: str, path: Path, summary: Summary) -> list[dict[str, Any]]:
    sc = summary.scenario
    ident = {
        "run": label,
        "source": summary.source,
        "workload": workload_of(sc),
        "dir": str(path),
        "clients": int(sc.get("clients", 0) or 0),
        "orders_per_client": int(sc.get("orders_per_client", 0) or 0),
        "server_processes": int(sc.get("server_processes", 1) or 1),
        "seed": summary.seed,
        "duration_s": float(sc.get("duration", float("nan")) or float("nan")),
    }
    return [
        {**ident, "strategy": name, **flatten_strategy(res), "extra": dict(res.extra)}
        for name, res in summary.strategies.items()
    ]


def _deliveries(label: str, path: Path, source: str) -> pd.DataFrame | None:
    from pollbench.results import read_deliveries

    if not (path / "deliveries.parquet").is_file():
        return None
    try:
        frame: pd.DataFrame = read_deliveries(path)
    except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) on a corrupt file
        raise ResultsError(f"{path / 'deliveries.parquet'}: unreadable ({exc})") from None
    missing = [c for c in DELIVERY_COLUMNS if c not in frame.columns]
    if missing:
        raise ResultsError(f"{path / 'deliveries.parquet'}: lacks delivery columns {missing}")
    frame = frame.loc[:, list(DELIVERY_COLUMNS)].copy()
    frame.insert(0, "source", source)
    frame.insert(0, "run", label)
    return frame


def load_results(paths: Sequence[str | Path]) -> ResultSet:
    """Load results directories (simulated or measured) into one :class:`ResultSet`.

    Raises ResultsError with a sentence when a path is missing or is not a results directory.
    """
    if not paths:
        raise ResultsError("no results directory given")
    rows: list[dict[str, Any]] = []
    deliveries: list[pd.DataFrame] = []
    capacity: dict[str, CapacityReport] = {}
    summaries: dict[str, Summary] = {}
    taken: set[str] = set()
    for path in find_results_dirs(paths):
        label = _unique_label(path, taken)
        if (path / CAPACITY_FILE).is_file():
            capacity[label] = load_capacity(path)
        if not (path / "summary.json").is_file():
            continue  # a knee search's directory: capacity.json only
        summary = read_summary(path)
        summaries[label] = summary
        rows.extend(_run_rows(label, path, summary))
        d = _deliveries(label, path, summary.source)
        if d is not None:
            deliveries.append(d)
    runs = pd.DataFrame(rows, columns=[*_RUN_COLUMNS, *METRIC_COLUMNS, "extra"])
    empty_deliveries = pd.DataFrame(columns=["run", "source", *DELIVERY_COLUMNS])
    return ResultSet(
        runs=runs,
        deliveries=pd.concat(deliveries, ignore_index=True) if deliveries else empty_deliveries,
        capacity=step_table(capacity),
        knees=knee_table(capacity),
        summaries=summaries,
        capacity_reports=capacity,
    )
