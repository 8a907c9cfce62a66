"""What a report says, gathered once and rendered twice (HTML and Markdown).

:func:`collect` turns loaded results into the report's parts — the per-strategy figures, the capacity plan,
the sim-versus-measured agreement, the seed's claims, the recommendation and the charts — and
:func:`display_tables` formats them as tables of strings so both renderers show identical numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reports.agreement import LATENCY_FLOOR_S, agreement
from reports.charts import Chart, draw_charts
from reports.findings import Finding, RecommendConfig, recommend, seed_claims
from reports.load import ResultSet
from reports.numbers import fmt, si
from reports.planning import capacity_plan

FEW_SAMPLES = 1000
"""Below this many measured deliveries a latency percentile is itself uncertain; the report says so."""

__all__ = ["FEW_SAMPLES", "ReportContents", "Table", "collect", "disagreements", "display_tables"]


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
    )


def _metrics_table(results: ResultSet) -> Table:
    cols = [
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
        caption="Per-strategy figures of every run (delivery latency, requests, wire bytes, server load).",
        columns=cols,
        rows=rows,
        flagged=flagged,
    )


def _basis_table(plan: pd.DataFrame) -> Table:
    first = plan.drop_duplicates(["source", "strategy"])
    rows = [
        [str(r["source"]), str(r["strategy"]), fmt(r["max_clients_per_process"]), str(r["basis"])]
        for r in first.to_dict("records")
    ]
    return Table(
        caption="Concurrent clients one server process holds, and where that number comes from.",
        columns=["source", "strategy", "clients per process", "basis"],
        rows=rows,
        flagged=[r[2] == "–" for r in rows],
    )


def _plan_table(plan: pd.DataFrame) -> Table:
    rows = [
        [
            str(r["source"]),
            str(r["strategy"]),
            f"{int(r['users']):,}",
            fmt(r["server_processes"]),
            fmt(r["traffic_gb_per_month"]),
            si(r["requests_per_month"]),
        ]
        for r in plan.to_dict("records")
    ]
    return Table(
        caption="Capacity plan: server processes needed, wire traffic (both ways, headers included, GB per "
        "30-day month) and requests per month, scaled linearly from each run.",
        columns=["source", "strategy", "users", "server processes", "GB/month", "requests/month"],
        rows=rows,
        flagged=[r[3] == "–" for r in rows],
    )


def _agreement_table(table: pd.DataFrame) -> Table:
    cols = ["strategy", "metric", "sim", "measured", "sim / measured", "bar", "verdict"]
    rows: list[list[str]] = []
    flagged: list[bool] = []
    for r in table.to_dict("records"):
        if r["agrees"] is None:
            verdict = "not comparable (missing on one side)"
        elif r["agrees"]:
            verdict = (
                f"agrees (both under the {LATENCY_FLOOR_S * 1000:.0f} ms measurement floor)"
                if r["below_floor"]
                else "agrees"
            )
        else:
            verdict = f"DISAGREES by {abs(r['ratio'] - 1):.0%}"
        if not r["moderate_load"]:
            verdict += " (measured server ≥ 60 % busy: bar not expected to hold)"
        if 0 < r["samples"] < FEW_SAMPLES:
            verdict += f" (only {r['samples']} measured deliveries)"
        rows.append(
            [
                r["strategy"],
                r["metric"],
                fmt(r["sim"]),
                fmt(r["measured"]),
                fmt(r["ratio"]),
                f"±{r['bar']:.0%}",
                verdict,
            ]
        )
        flagged.append(r["agrees"] is False)
    return Table(
        caption="Simulated versus measured, per strategy: the ratio, and whether it is within its bar.",
        columns=cols,
        rows=rows,
        flagged=flagged,
    )


def display_tables(contents: ReportContents) -> dict[str, Table]:
    """The report's tables, keyed metrics / basis / plan / agreement / storm (agreement absent when nothing
    pairs, storm when no run modelled a restart)."""
    from reports.storm import storm_table  # imported here: reports.storm builds on this module's Table

    tables = {
        "metrics": _metrics_table(contents.results),
        "basis": _basis_table(contents.plan),
        "plan": _plan_table(contents.plan),
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
                f"{r['strategy']}: simulated {r['metric']} is {fmt(r['sim'])}, measured {fmt(r['measured'])} "
                f"({r['ratio']:.2f}×, outside the ±{r['bar']:.0%} bar)."
            )
    return out
