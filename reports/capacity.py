"""Knees in a report: ``capacity.json`` (schema 2) as tidy tables, and a knee in words.

A knee is the most clients one server process held within the SLO (pollbench.capacity). Files are read
only through :func:`pollbench.capacity.read_capacity`; here each :class:`~pollbench.capacity.Knee` becomes
a row of :data:`KNEE_COLUMNS` and each of its probes a row of :data:`STEP_COLUMNS`, so charts, the plan and
the agreement read knees the way they read runs. A quota of 1.0 in these tables means a whole core.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from pollbench.capacity import CAPACITY_FILE, CapacityError, CapacityReport, Knee, read_capacity
from pollbench.results import ResultsError
from pollbench.strategies import StrategyError, parse_strategy

__all__ = [
    "CAPACITY_FILE",
    "KNEE_COLUMNS",
    "STEP_COLUMNS",
    "knee_table",
    "limit_words",
    "load_capacity",
    "quota_of",
    "quota_text",
    "step_table",
]

KNEE_COLUMNS: tuple[str, ...] = (
    "run",
    "source",
    "workload",
    "strategy",
    "quota",
    "max_clients",
    "limited_by",
    "ceiling",
    "scaled_to_full_core",
    "full_core_clients",
    "full_core_limit",
    "note",
    "slo_p99_s",
    "slo_utilization",
    "connection_limit",
)
"""One row per knee; ``full_core_clients`` NaN when unknown, ``limited_by`` the limits joined by commas."""

STEP_COLUMNS: tuple[str, ...] = (
    "run",
    "source",
    "workload",
    "strategy",
    "quota",
    "step",
    "clients",
    "p50_s",
    "p99_s",
    "server_utilization",
    "open_connections",
    "rss_bytes",
    "fail_ratio",
    "ok",
    "limited_by",
    "messages",
    "sim_server_utilization",
    "sim_p99_s",
    "sim_open_connections",
)
"""One row per probe; the ``sim_*`` columns are what the simulator said of the same probe (measured knees
whose steps carry ``detail["sim"]``), NaN otherwise."""

_LIMIT_WORDS = {
    "latency": "CPU",
    "utilization": "CPU",
    "connections": "connections",
    "memory": "memory",
    "failures": "failures",
}


def load_capacity(directory: str | Path) -> CapacityReport:
    """The capacity report in `directory` (or the file itself); ResultsError with read_capacity's sentence."""
    try:
        return read_capacity(directory)
    except CapacityError as exc:
        raise ResultsError(str(exc)) from None


def quota_of(knee: Knee) -> float:
    """The knee's CPU quota as a share of one core, 1.0 for a whole core."""
    q = knee.server_cpu_quota
    return 1.0 if q is None or q >= 1 else float(q)


def quota_text(quota: float) -> str:
    """``0.2 of a core`` or ``a whole core``."""
    return "a whole core" if not math.isfinite(quota) or quota >= 1 else f"{quota:g} of a core"


def limit_words(limit: str) -> str:
    """What binds, as the plan names it: CPU (latency or utilization), connections, memory or failures."""
    return _LIMIT_WORDS.get(limit, "")


def _slo_p99(report: CapacityReport, strategy: str) -> float:
    try:
        return float(report.slo.p99_for(parse_strategy(strategy)))
    except StrategyError:
        return math.nan


def _connection_limit(report: CapacityReport) -> float:
    for value in (report.slo.connections, report.machine.get("connection_limit")):
        if isinstance(value, int | float) and value > 0:
            return float(value)
    return math.nan


def _knee_row(run: str, report: CapacityReport, knee: Knee) -> dict[str, Any]:
    return {
        "run": run,
        "source": knee.source,
        "workload": report.workload,
        "strategy": knee.strategy,
        "quota": quota_of(knee),
        "max_clients": knee.max_clients,
        "limited_by": ", ".join(knee.limited_by),
        "ceiling": knee.ceiling,
        "scaled_to_full_core": knee.scaled_to_full_core,
        "full_core_clients": math.nan if knee.full_core_clients is None else float(knee.full_core_clients),
        "full_core_limit": knee.full_core_limit,
        "note": knee.note,
        "slo_p99_s": _slo_p99(report, knee.strategy),
        "slo_utilization": report.slo.utilization,
        "connection_limit": _connection_limit(report),
    }


def _sim(detail: Mapping[str, Any], key: str) -> float:
    sim = detail.get("sim")
    value = sim.get(key) if isinstance(sim, Mapping) else None
    return float(value) if isinstance(value, int | float) else math.nan


def _step_rows(run: str, report: CapacityReport, knee: Knee) -> list[dict[str, Any]]:
    return [
        {
            "run": run,
            "source": knee.source,
            "workload": report.workload,
            "strategy": knee.strategy,
            "quota": quota_of(knee),
            "step": i,
            "clients": s.clients,
            "p50_s": s.p50_s,
            "p99_s": s.p99_s,
            "server_utilization": s.server_utilization,
            "open_connections": s.open_connections,
            "rss_bytes": s.rss_bytes,
            "fail_ratio": s.fail_ratio,
            "ok": s.ok,
            "limited_by": ", ".join(s.limited_by),
            "messages": s.messages,
            "sim_server_utilization": _sim(s.detail, "server_utilization"),
            "sim_p99_s": _sim(s.detail, "p99_s"),
            "sim_open_connections": _sim(s.detail, "open_connections"),
        }
        for i, s in enumerate(knee.steps)
    ]


def knee_table(reports: Mapping[str, CapacityReport]) -> pd.DataFrame:
    """Every knee of `reports` (run label -> report) as rows of KNEE_COLUMNS."""
    rows = [_knee_row(run, r, k) for run, r in reports.items() for k in r.knees]
    return pd.DataFrame(rows, columns=list(KNEE_COLUMNS))


def step_table(reports: Mapping[str, CapacityReport]) -> pd.DataFrame:
    """Every probe of every knee of `reports` as rows of STEP_COLUMNS."""
    rows = [row for run, r in reports.items() for k in r.knees for row in _step_rows(run, r, k)]
    return pd.DataFrame(rows, columns=list(STEP_COLUMNS))
