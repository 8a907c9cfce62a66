"""Simulated versus measured: does the model agree with the real server, capacity included?

Three kinds of pair, each with its bar (the largest difference still counted as agreement):

* the figures of a strategy run both ways under one workload: delivery-latency p50 and p95 within 15 % or
  1 ms, whichever is larger (a millisecond is the resolution of a ``createdAt``); requests/s and bytes per
  poll within 5 %; server CPU utilization within 10 %;
* the measured knee against the simulated knee of the same strategy, workload and CPU quota: 20 %;
* each probe of a measured knee against what the simulator said of that same probe (``detail["sim"]``):
  server utilization within 10 %.

A pair outside its bar is reported as a disagreement, plainly; the model is never tuned per run to hide it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from reports.capacity import quota_text
from reports.load import ResultSet

__all__ = [
    "AGREEMENT_BARS",
    "AGREEMENT_COLUMNS",
    "KNEE_BAR",
    "LATENCY_RESOLUTION_S",
    "MODERATE_UTILIZATION",
    "STEP_UTILIZATION_BAR",
    "agreement",
    "metric_label",
    "paired_runs",
]

AGREEMENT_BARS: dict[str, float] = {
    "latency_s.p50": 0.15,
    "latency_s.p95": 0.15,
    "requests_per_s": 0.05,
    "bytes_per_poll": 0.05,
    "server_utilization": 0.10,
}
"""Run metric -> largest relative difference (|sim / measured - 1|) still counted as agreement."""

LATENCY_RESOLUTION_S = 0.001
"""Latencies this close agree whatever their ratio: ``createdAt`` has 1 ms resolution, so a push delivery of
2 ms measured against 1 ms simulated is one tick of the instrument, not a 50 % error."""

KNEE_BAR = 0.20
"""Measured knee against simulated knee at the same quota."""
STEP_UTILIZATION_BAR = 0.10
"""Measured utilization of a knee probe against the simulated utilization of the same probe."""

MODERATE_UTILIZATION = 0.6
"""Above this measured utilization queueing dominates a run's latencies and their bars are not expected to
hold (knee probes are judged at any load: that is what they are for)."""

AGREEMENT_COLUMNS: tuple[str, ...] = (
    "workload",
    "strategy",
    "metric",
    "quota",
    "clients",
    "sim",
    "measured",
    "ratio",
    "bar",
    "tolerance",
    "rule",
    "agrees",
    "moderate_load",
    "samples",
    "note",
)
"""``quota`` (1.0 = a whole core) and ``clients`` are set for knee rows; ``tolerance`` is the largest
difference |sim - measured| that agrees, in the metric's unit; ``rule`` says how it was set."""


def paired_runs(results: ResultSet) -> pd.DataFrame:
    """Rows pairing one simulated and one measured run per (workload, strategy), same clients where possible.

    Columns: workload, strategy, sim_run, measured_run, plus every metric suffixed ``_sim`` / ``_measured``.
    """
    runs = results.runs
    pairs: list[dict[str, Any]] = []
    for workload in dict.fromkeys(runs["workload"]) if len(runs) else ():
        mine = runs[runs["workload"] == workload]
        sim, measured = mine[mine["source"] == "sim"], mine[mine["source"] == "measured"]
        for strategy in results.strategies:
            m_rows, s_rows = measured[measured["strategy"] == strategy], sim[sim["strategy"] == strategy]
            if m_rows.empty or s_rows.empty:
                continue
            m = m_rows.iloc[0]
            same_clients = s_rows[s_rows["clients"] == m["clients"]]
            s = (same_clients if not same_clients.empty else s_rows).iloc[0]
            pair: dict[str, Any] = {
                "workload": workload,
                "strategy": strategy,
                "sim_run": s["run"],
                "measured_run": m["run"],
            }
            for col in ("clients", "latency_s.count", *AGREEMENT_BARS):
                pair[f"{col}_sim"] = s[col]
                pair[f"{col}_measured"] = m[col]
            pairs.append(pair)
    return pd.DataFrame(pairs)


def _count(value: Any) -> int:
    x = float(value)
    return int(x) if math.isfinite(x) else 0


def _judge(sim: float, measured: float, bar: float, floor: float = 0.0) -> dict[str, Any]:
    """ratio, tolerance and verdict of one pair: |sim - measured| <= max(bar * |measured|, floor)."""
    if not (math.isfinite(sim) and math.isfinite(measured)):
        return {"ratio": math.nan, "tolerance": math.nan, "agrees": None}
    tolerance = max(bar * abs(measured), floor)
    ratio = sim / measured if measured != 0 else math.nan
    if measured == 0 and floor == 0:
        return {"ratio": ratio, "tolerance": tolerance, "agrees": None}
    return {"ratio": ratio, "tolerance": tolerance, "agrees": abs(sim - measured) <= tolerance}


def _run_rows(results: ResultSet) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for p in paired_runs(results).to_dict("records"):
        util = float(p["server_utilization_measured"])
        moderate = math.isfinite(util) and util < MODERATE_UTILIZATION
        for metric, bar in AGREEMENT_BARS.items():
            sim, measured = float(p[f"{metric}_sim"]), float(p[f"{metric}_measured"])
            latency = metric.startswith("latency")
            judged = _judge(sim, measured, bar, LATENCY_RESOLUTION_S if latency else 0.0)
            rule = f"±{bar:.0%}" + (f" or {LATENCY_RESOLUTION_S * 1000:g} ms" if latency else "")
            rows.append(
                {
                    "workload": p["workload"],
                    "strategy": p["strategy"],
                    "metric": metric,
                    "quota": math.nan,
                    "clients": _count(p["clients_measured"]),
                    "sim": sim,
                    "measured": measured,
                    "bar": bar,
                    "rule": rule,
                    **judged,
                    "moderate_load": moderate or metric == "server_utilization",
                    "samples": _count(p["latency_s.count_measured"]) if latency else 0,
                    "note": "",
                }
            )
    return rows


def _knee_rows(results: ResultSet) -> list[dict[str, Any]]:
    knees = results.knees
    measured, sim = knees[knees["source"] == "measured"], knees[knees["source"] == "sim"]
    rows: list[dict[str, Any]] = []
    for m in measured.to_dict("records"):
        twin = sim[
            (sim["workload"] == m["workload"])
            & (sim["strategy"] == m["strategy"])
            & (sim["quota"] == m["quota"])
        ]
        if twin.empty:
            continue
        s = twin.iloc[0]
        judged = _judge(float(s["max_clients"]), float(m["max_clients"]), KNEE_BAR)
        note = ""
        if m["ceiling"] or s["ceiling"]:
            judged["agrees"] = None  # a ceiling is a lower bound: a ratio to it says nothing
            note = "a search ceiling on one side: not comparable"
        rows.append(
            {
                "workload": m["workload"],
                "strategy": m["strategy"],
                "metric": "knee_clients",
                "quota": m["quota"],
                "clients": int(m["max_clients"]),
                "sim": float(s["max_clients"]),
                "measured": float(m["max_clients"]),
                "bar": KNEE_BAR,
                "rule": f"±{KNEE_BAR:.0%}",
                **judged,
                "moderate_load": True,
                "samples": 0,
                "note": note,
            }
        )
    return rows


def _step_rows(results: ResultSet) -> list[dict[str, Any]]:
    steps = results.capacity
    mine = steps[(steps["source"] == "measured") & steps["sim_server_utilization"].notna()]
    mine = mine.sort_values(["workload", "strategy", "quota", "clients"], kind="stable")
    return [
        {
            "workload": s["workload"],
            "strategy": s["strategy"],
            "metric": "step_utilization",
            "quota": s["quota"],
            "clients": int(s["clients"]),
            "sim": float(s["sim_server_utilization"]),
            "measured": float(s["server_utilization"]),
            "bar": STEP_UTILIZATION_BAR,
            "rule": f"±{STEP_UTILIZATION_BAR:.0%}",
            **_judge(
                float(s["sim_server_utilization"]), float(s["server_utilization"]), STEP_UTILIZATION_BAR
            ),
            "moderate_load": True,
            "samples": int(s["messages"]),
            "note": "",
        }
        for s in mine.to_dict("records")
    ]


def agreement(results: ResultSet) -> pd.DataFrame:
    """One row per compared pair (AGREEMENT_COLUMNS): run metrics of every strategy run both ways, then
    knees at the same quota, then every measured knee probe the simulator also judged.

    ``agrees`` is True, False, or None when a side is missing (e.g. bytes per poll of a push strategy) or
    the pair says nothing (a search ceiling). ``moderate_load`` is False for run metrics measured at 60 %
    busy or more, where their bars are not expected to hold. ``samples`` counts the measured deliveries
    behind a latency figure (messages behind a knee probe; 0 otherwise).
    """
    rows = [*_run_rows(results), *_knee_rows(results), *_step_rows(results)]
    frame = pd.DataFrame(rows, columns=list(AGREEMENT_COLUMNS))
    # object, not bool: a verdict is True, False or None, tested with `is` everywhere it is read
    frame["agrees"] = frame["agrees"].astype(object)
    return frame


def metric_label(row: Mapping[Any, Any]) -> str:
    """A row's metric as the report names it: ``latency_s.p95``, ``knee at 0.2 of a core``,
    ``utilization at 850 clients (0.2 of a core)``."""
    if row["metric"] == "knee_clients":
        return f"knee at {quota_text(float(row['quota']))}"
    if row["metric"] == "step_utilization":
        return f"utilization at {int(row['clients']):,} clients ({quota_text(float(row['quota']))})"
    return str(row["metric"])
