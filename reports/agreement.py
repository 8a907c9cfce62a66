"""Simulated versus measured: does the model agree with the real server?

For each strategy run both ways, the simulated figure is divided by the measured one. The calibration bar of
the project is: delivery-latency p50 and p95 within 15 %, requests/s and bytes per poll within 5 %, on a
moderate load (the measured server below 60 % busy). A pair outside its bar is reported as a disagreement,
plainly; the model is never tuned per run to hide it.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from reports.load import ResultSet

__all__ = ["AGREEMENT_BARS", "LATENCY_FLOOR_S", "MODERATE_UTILIZATION", "agreement", "paired_runs"]

AGREEMENT_BARS: dict[str, float] = {
    "latency_s.p50": 0.15,
    "latency_s.p95": 0.15,
    "requests_per_s": 0.05,
    "bytes_per_poll": 0.05,
}
"""Metric -> largest relative difference (|sim / measured - 1|) still counted as agreement."""

LATENCY_FLOOR_S = 0.025
"""Latencies both below this agree whatever their ratio. A push delivery on loopback takes a few
milliseconds, and at that scale the measurement is the instrument: ``createdAt`` has 1 ms resolution, the
commit's fsync and the load generator's own scheduling on a shared 2-core machine add milliseconds that
the model of the server does not (and should not) contain. A ratio of two such figures says nothing."""

MODERATE_UTILIZATION = 0.6
"""Above this measured utilization queueing dominates and the bars are not expected to hold."""


def paired_runs(results: ResultSet) -> pd.DataFrame:
    """Rows pairing one simulated and one measured run per strategy (same clients where possible).

    Columns: strategy, sim_run, measured_run, plus every metric suffixed ``_sim`` / ``_measured``.
    """
    runs = results.runs
    sim = runs[runs["source"] == "sim"]
    measured = runs[runs["source"] == "measured"]
    pairs: list[dict[str, Any]] = []
    for strategy in results.strategies:
        m_rows = measured[measured["strategy"] == strategy]
        s_rows = sim[sim["strategy"] == strategy]
        if m_rows.empty or s_rows.empty:
            continue
        m = m_rows.iloc[0]
        same_clients = s_rows[s_rows["clients"] == m["clients"]]
        s = (same_clients if not same_clients.empty else s_rows).iloc[0]
        pair: dict[str, Any] = {"strategy": strategy, "sim_run": s["run"], "measured_run": m["run"]}
        for col in ("clients", "server_utilization", "latency_s.count", *AGREEMENT_BARS):
            pair[f"{col}_sim"] = s[col]
            pair[f"{col}_measured"] = m[col]
        pairs.append(pair)
    return pd.DataFrame(pairs)


def _count(value: Any) -> int:
    x = float(value)
    return int(x) if math.isfinite(x) else 0


def _ratio(sim: float, measured: float) -> float:
    if not (math.isfinite(sim) and math.isfinite(measured)) or measured == 0:
        return math.nan
    return sim / measured


def agreement(results: ResultSet) -> pd.DataFrame:
    """One row per (strategy, metric) run both ways, with the ratio and a verdict.

    Columns: strategy, metric, sim, measured, ratio (sim / measured), bar, agrees (True, False, or None
    when the metric is absent on either side), below_floor (a latency pair both under LATENCY_FLOOR_S,
    which agrees whatever its ratio), moderate_load (measured utilization below 60 %), samples (measured
    deliveries behind a latency figure; 0 for other metrics).
    """
    rows: list[dict[str, Any]] = []
    for p in paired_runs(results).to_dict("records"):
        util = float(p["server_utilization_measured"])
        moderate = math.isfinite(util) and util < MODERATE_UTILIZATION
        for metric, bar in AGREEMENT_BARS.items():
            sim, measured = float(p[f"{metric}_sim"]), float(p[f"{metric}_measured"])
            ratio = _ratio(sim, measured)
            floor = metric.startswith("latency") and max(sim, measured) < LATENCY_FLOOR_S
            rows.append(
                {
                    "strategy": p["strategy"],
                    "metric": metric,
                    "sim": sim,
                    "measured": measured,
                    "ratio": ratio,
                    "bar": bar,
                    "agrees": None if math.isnan(ratio) else bool(floor or abs(ratio - 1) <= bar),
                    "below_floor": bool(floor),
                    "moderate_load": moderate,
                    "samples": _count(p["latency_s.count_measured"]) if metric.startswith("latency") else 0,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "strategy",
            "metric",
            "sim",
            "measured",
            "ratio",
            "bar",
            "agrees",
            "below_floor",
            "moderate_load",
            "samples",
        ],
    )
