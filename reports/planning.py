"""Capacity planning: servers, traffic and requests for 1k to 1M users, per strategy.

The figures scale one run linearly, which is what a capacity plan does: per-client traffic and request rates
do not depend on how many clients there are, while the clients one server process holds is the one number a
run cannot simply scale. It comes from a capacity search when there is one (``capacity.json``); otherwise it
is *derived* from the run's utilization — clients per process / utilization x target utilization — which
assumes CPU is the bottleneck and ignores memory per open connection. The table says which basis it used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from reports.capacity import max_clients_per_process
from reports.load import ResultSet

__all__ = ["LIGHT_LOAD", "PLAN_USERS", "PlanConfig", "SECONDS_PER_MONTH", "capacity_basis", "capacity_plan"]

PLAN_USERS: tuple[int, ...] = (1_000, 10_000, 100_000, 1_000_000)
SECONDS_PER_MONTH = 60 * 60 * 24 * 30
LIGHT_LOAD = 0.05
"""Utilization below which a derived clients-per-process figure is flagged as unreliable."""
LIGHT_LOAD_CAVEAT = "; extrapolated from a light load, unreliable"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanConfig:
    """Assumptions of a capacity plan."""

    users: tuple[int, ...] = PLAN_USERS
    """User counts to plan for (each user is one client)."""
    target_utilization: float = 0.6
    """Busy fraction a server process is planned to run at (headroom for bursts)."""


def _representative_runs(results: ResultSet) -> pd.DataFrame:
    """One row per (source, strategy): the run with the most clients, the best base to scale from."""
    runs = results.runs
    if runs.empty:
        return runs
    ordered = runs.sort_values("clients", ascending=False).drop_duplicates(["source", "strategy"])
    # report order: simulated before measured, strategies in the order the runs list them
    strategy_rank = {s: i for i, s in enumerate(results.strategies)}
    key = ordered["strategy"].map(strategy_rank) + (ordered["source"] != "sim") * len(strategy_rank)
    return ordered.assign(_key=key).sort_values("_key").drop(columns="_key").reset_index(drop=True)


def capacity_basis(results: ResultSet, row: Mapping[str, Any], config: PlanConfig) -> tuple[float, str]:
    """(max clients per server process, how that number was obtained) for one run row."""
    cap = results.capacity
    if not cap.empty:
        mine = cap[(cap["source"] == row["source"]) & (cap["strategy"] == row["strategy"])]
        if not mine.empty:
            run = row["run"] if (mine["run"] == row["run"]).any() else mine["run"].iloc[0]
            steps = mine[mine["run"] == run]
            best = max_clients_per_process(steps)
            slo = steps["slo_p99_s"].iloc[0]
            slo_text = f" (SLO p99 {slo:g} s)" if math.isfinite(slo) else ""
            if math.isfinite(best):
                return best, f"capacity search{slo_text}"
            return math.nan, f"capacity search{slo_text}: even the first step failed"
    util = float(row["server_utilization"])
    per_process = row["clients"] / max(int(row["server_processes"]), 1)
    if not math.isfinite(util) or util <= 0 or per_process <= 0:
        return math.nan, "unknown: no utilization figure and no capacity search"
    derived = per_process / util * config.target_utilization
    # a long linear extrapolation from a nearly idle server hides fixed costs and queueing; say so
    caveat = LIGHT_LOAD_CAVEAT if util < LIGHT_LOAD else ""
    return derived, (
        f"derived: {per_process:,.0f} clients/process at {util:.1%} busy, "
        f"scaled to {config.target_utilization:.0%} busy (CPU only{caveat})"
    )


def capacity_plan(results: ResultSet, config: PlanConfig | None = None) -> pd.DataFrame:
    """The planning table: one row per (source, strategy, users).

    Columns: source, strategy, users, max_clients_per_process, basis, reliable (False for a figure
    extrapolated from a nearly idle server), server_processes, traffic_gb_per_month (wire bytes both ways,
    headers included), requests_per_month.
    """
    cfg = config or PlanConfig()
    rows: list[dict[str, Any]] = []
    for row in _representative_runs(results).to_dict("records"):
        max_clients, basis = capacity_basis(results, {str(k): v for k, v in row.items()}, cfg)
        req_per_client_s = row["requests_per_s"] / row["clients"] if row["clients"] else math.nan
        for users in cfg.users:
            processes = (
                math.ceil(users / max_clients) if math.isfinite(max_clients) and max_clients > 0 else None
            )
            rows.append(
                {
                    "source": row["source"],
                    "strategy": row["strategy"],
                    "users": users,
                    "max_clients_per_process": max_clients,
                    "basis": basis,
                    "reliable": LIGHT_LOAD_CAVEAT not in basis,
                    "server_processes": processes,
                    "traffic_gb_per_month": row["bytes_per_client_per_min"] * users * 60 * 24 * 30 / 1e9,
                    "requests_per_month": req_per_client_s * users * SECONDS_PER_MONTH,
                }
            )
    columns = [
        "source",
        "strategy",
        "users",
        "max_clients_per_process",
        "basis",
        "reliable",
        "server_processes",
        "traffic_gb_per_month",
        "requests_per_month",
    ]
    return pd.DataFrame(rows, columns=columns)
