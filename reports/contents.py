"""What a report says, gathered once and rendered twice (HTML and Markdown).

:func:`collect` turns loaded results into the report's parts — the per-strategy figures, the capacity plan,
the sim-versus-measured agreement, the seed's claims, the recommendation and the charts — and
:func:`display_tables` formats them as tables of strings so both renderers show identical numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pollbench.workload import AGREEMENT_WORKLOAD, workload_of
from reports.agreement import agreement, metric_label
from reports.capacity import quota_text
from reports.charts import Chart, draw_charts
from reports.findings import Finding, RecommendConfig, recommend, seed_claims
from reports.load import ResultSet
from reports.numbers import fmt, si
from reports.planning import NO_KNEE, capacity_plan, planning_knees, planning_workload, workload_label

FEW_SAMPLES = 1000
"""Below this many measured deliveries a latency percentile is itself uncertain; the report says so."""

__all__ = [
    "FEW_SAMPLES",
    "ReportContents",
    "Table",
    "collect",
    "disagreements",
    "display_tables",
    "knee_status",
    "run_lines",
    "workload_name",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Table:
    """A table ready to render: a caption, column headings and rows of strings."""

    caption: str
    """One sentence saying what the table shows."""
    columns: list[str]
    """Column headings."""
    rows: list[list[str]]
    """Cells, already formatted."""
    flagged: list[bool]
    """Per row: True when the row states a problem (disagreement, missed target)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportContents:
    """Everything a report shows."""

    results: ResultSet
    """The loaded runs."""
    charts: list[Chart]
    """Charts in report order (skipped ones carry a note)."""
    plan: pd.DataFrame
    """Capacity plan (reports.planning.capacity_plan)."""
    agreement: pd.DataFrame
    """Sim versus measured pairs (reports.agreement.agreement)."""
    claims: list[Finding]
    """The seed's claims confronted with the figures."""
    recommendation: Finding
    """The strategy to adopt, with reasons."""
    config: RecommendConfig
    """Targets and planning assumptions used."""
    workload: str
    """The planning workload every plan, claim and the recommendation is for ('' when the runs name none)."""


def collect(
    results: ResultSet, charts_dir: str | Path, config: RecommendConfig | None = None
) -> ReportContents:
    """Compute every part of the report; charts are written into `charts_dir`."""
    cfg = config or RecommendConfig()
    return ReportContents(
        results=results,
        charts=draw_charts(results, charts_dir),
        plan=capacity_plan(results, cfg.plan),
        agreement=agreement(results),
        claims=seed_claims(results, cfg),
        recommendation=recommend(results, cfg),
        config=cfg,
        workload=planning_workload(results, cfg.plan.workload),
    )


def workload_name(name: str) -> str:
    """A run's workload as a table cell."""
    return name if name == AGREEMENT_WORKLOAD else workload_label(name)


def _metrics_table(results: ResultSet) -> Table:
    cols = [
        "workload",
        "source",
        "strategy",
        "clients",
        "p50 s",
        "p95 s",
        "p99 s",
        "req/s",
        "req/s per 1k clients",
        "B/client/min",
        "B/poll",
        "B/delivery",
        "util %",
        "energy J/client-h",
        "failures",
    ]
    rows: list[list[str]] = []
    flagged: list[bool] = []
    for r in results.runs.to_dict("records"):
        per_k = r["requests_per_s"] / r["clients"] * 1000 if r["clients"] else math.nan
        rows.append(
            [
                workload_name(str(r["workload"])),
                r["source"],
                r["strategy"],
                fmt(r["clients"]),
                fmt(r["latency_s.p50"]),
                fmt(r["latency_s.p95"]),
                fmt(r["latency_s.p99"]),
                fmt(r["requests_per_s"]),
                fmt(per_k),
                fmt(r["bytes_per_client_per_min"]),
                fmt(r["bytes_per_poll"]),
                fmt(r["bytes_per_delivery"]),
                fmt(r["server_utilization"] * 100),
                fmt(r["energy_j_per_client_hour"]),
                fmt(r["failures"]),
            ]
        )
        flagged.append(int(r["failures"]) > 0)
    return Table(
        caption="Per-strategy figures of every run, each for the workload it ran (delivery latency, "
        "requests, wire bytes, server load).",
        columns=cols,
        rows=rows,
        flagged=flagged,
    )


def _clients_cell(value: object, at_least: object) -> str:
    text = fmt(value)
    return f"≥ {text}" if at_least and text != "–" else text


def _basis_table(plan: pd.DataFrame, workload: str) -> Table:
    first = plan.drop_duplicates("strategy")
    rows = [
        [
            str(r["strategy"]),
            _clients_cell(r["clients_per_process"], r["at_least"]),
            str(r["limit"]) or "–",
            str(r["basis"]) + (f" — {r['detail']}" if r["detail"] else ""),
            fmt(r["sim_clients_per_process"]) + (f" ({r['sim_limit']})" if r["sim_limit"] else ""),
        ]
        for r in first.to_dict("records")
    ]
    return Table(
        caption=f"Concurrent clients one server process holds under {workload_label(workload)}, on a "
        "whole core: the measured knee where there is one, the simulated knee beside it, and where each "
        "comes from.",
        columns=["strategy", "clients per process", "binding limit", "basis", "simulated knee"],
        rows=rows,
        flagged=[r["kind"] not in ("knee", "held") for r in first.to_dict("records")],
    )


def _plan_table(plan: pd.DataFrame, workload: str) -> Table:
    rows = [
        [
            str(r["strategy"]),
            f"{int(r['users']):,}",
            fmt(r["server_processes"]) + (" (extrapolated)" if r["kind"] == "extrapolation" else ""),
            _clients_cell(r["clients_per_process"], r["at_least"]),
            str(r["limit"]) or "–",
            fmt(r["sim_server_processes"]),
            fmt(r["traffic_gb_per_month"]),
            si(r["requests_per_month"]),
        ]
        for r in plan.to_dict("records")
    ]
    return Table(
        caption=f"Capacity plan for {workload_label(workload)}: server processes needed (from the measured "
        "knee, else the simulated one; the simulated knee's count beside it), wire traffic (both ways, "
        "headers included, GB per 30-day month) and requests per month from its per-client figures.",
        columns=[
            "strategy",
            "users",
            "server processes",
            "clients per process",
            "binding limit",
            "processes (simulated knee)",
            "GB/month",
            "requests/month",
        ],
        rows=rows,
        flagged=[r["kind"] not in ("knee", "held") for r in plan.to_dict("records")],
    )


def _verdict(r: Mapping[Any, Any]) -> str:
    if r["agrees"] is None:
        verdict = str(r["note"]) or "not comparable (missing on one side)"
    elif r["agrees"]:
        verdict = "agrees"
    else:
        verdict = f"DISAGREES by {abs(float(r['ratio']) - 1):.0%}"
    if not r["moderate_load"]:
        verdict += " (measured server ≥ 60 % busy: bar not expected to hold)"
    samples = int(r["samples"])
    if r["metric"] not in ("knee_clients", "step_utilization") and 0 < samples < FEW_SAMPLES:
        verdict += f" (only {samples} measured deliveries)"
    return verdict


def _agreement_table(table: pd.DataFrame) -> Table:
    cols = ["workload", "strategy", "metric", "sim", "measured", "sim / measured", "bar", "verdict"]
    records = table.to_dict("records")
    rows = [
        [
            workload_name(str(r["workload"])),
            str(r["strategy"]),
            metric_label(r),
            fmt(r["sim"]),
            fmt(r["measured"]),
            fmt(r["ratio"]),
            str(r["rule"]),
            _verdict(r),
        ]
        for r in records
    ]
    return Table(
        caption="Simulated versus measured, per strategy and workload: the ratio, and whether the pair is "
        "within its bar (latency: 15 % or 1 ms, whichever is larger; knees at the same CPU quota: 20 %).",
        columns=cols,
        rows=rows,
        flagged=[r["agrees"] is False for r in records],
    )


def display_tables(contents: ReportContents) -> dict[str, Table]:
    """The report's tables, keyed metrics / basis / plan / agreement / storm (agreement absent when nothing
    pairs, storm when no run modelled a restart)."""
    from reports.storm import storm_table  # imported here: reports.storm builds on this module's Table

    tables = {
        "metrics": _metrics_table(contents.results),
        "basis": _basis_table(contents.plan, contents.workload),
        "plan": _plan_table(contents.plan, contents.workload),
    }
    if not contents.agreement.empty:
        tables["agreement"] = _agreement_table(contents.agreement)
    storm = storm_table(contents.results)
    if storm is not None:
        tables["storm"] = storm
    return tables


def disagreements(contents: ReportContents) -> list[str]:
    """One plain sentence per sim/measured pair outside its bar."""
    out = []
    for r in contents.agreement.to_dict("records"):
        if r["agrees"] is False:
            out.append(
                f"{r['strategy']} ({workload_name(str(r['workload']))}): simulated {metric_label(r)} is "
                f"{fmt(r['sim'])}, measured {fmt(r['measured'])} ({r['ratio']:.2f}×, outside the "
                f"{r['rule']} bar)."
            )
    return out


def knee_status(contents: ReportContents) -> str:
    """One sentence on the knees behind the plan: which were found, or plainly that there are none."""
    knees = planning_knees(contents.results, contents.workload)
    label = workload_label(contents.workload)
    if knees.empty:
        return (
            f"No knee under {label}: {NO_KNEE}. Clients per process below are unknown, or labelled "
            "extrapolations and lower bounds, never a limit."
        )
    parts = []
    for (source, quota), g in knees.groupby(["source", "quota"], sort=False):
        parts.append(
            f"{source} at {quota_text(float(str(quota)))} for {', '.join(dict.fromkeys(g['strategy']))}"
        )
    return f"Knees under {label}: " + "; ".join(parts) + "."


def run_lines(contents: ReportContents) -> list[tuple[str, str]]:
    """(label, what it is and which workload it is for) per results directory."""
    lines = []
    for label, s in contents.results.summaries.items():
        machine = s.machine.get("platform") or "unknown machine"
        cpus = s.machine.get("cpus")
        lines.append(
            (
                label,
                f"{s.source}, {workload_name(workload_of(s.scenario))}, {len(s.strategies)} strategies, "
                f"seed {s.seed}, {s.scenario.get('clients', '?')} clients, {machine}"
                + (f", {cpus} CPUs" if cpus else ""),
            )
        )
    for label, r in contents.results.capacity_reports.items():
        quotas = sorted({1.0 if k.server_cpu_quota is None else k.server_cpu_quota for k in r.knees})
        text = f"{r.source} knees of {workload_name(r.workload)}, {len(r.knees)} knee(s) at "
        lines.append((label, text + ", ".join(quota_text(q) for q in quotas)))
    return lines
