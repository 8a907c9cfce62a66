"""Capacity planning: server processes, traffic and requests for 1k to 1M users of a planning workload.

Per-client traffic and request rates scale linearly with users and come from the planning workload's run.
The clients one server process holds does not scale, and comes from a **knee** (reports.capacity): the
measured one first, on a whole core (scaled from its CPU quota when it was CPU-bound there), the simulated
one beside it. Without a knee the plan says so; a figure extrapolated from utilization is shown only
labelled as an extrapolation and never outranks a knee. A figure below what a measured process
demonstrably held is no limit, and the plan uses what was held instead. Nothing here is computed for the
agreement load of a comparison.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from pollbench.capacity import Slo, servers_needed
from pollbench.strategies import StrategyError, parse_strategy
from pollbench.workload import AGREEMENT_WORKLOAD
from reports.capacity import limit_words, quota_text
from reports.load import ResultSet

__all__ = [
    "LIGHT_LOAD",
    "NO_KNEE",
    "PLAN_COLUMNS",
    "PLAN_USERS",
    "RANKED_KINDS",
    "SECONDS_PER_MONTH",
    "PlanConfig",
    "ProcessCapacity",
    "capacity_plan",
    "planning_knees",
    "planning_runs",
    "planning_workload",
    "workload_label",
]

PLAN_USERS: tuple[int, ...] = (1_000, 10_000, 100_000, 1_000_000)
SECONDS_PER_MONTH = 60 * 60 * 24 * 30
LIGHT_LOAD = 0.05
"""Utilization below which an extrapolation is called unreliable as well as not a knee."""
NO_KNEE = "no knee measured: run compare with --knees (a measured and a simulated knee search)"
"""What the plan says where a strategy has no knee."""

Kind = Literal["knee", "held", "extrapolation", "none"]
RANKED_KINDS: frozenset[str] = frozenset({"knee", "held"})
"""Kinds of clients-per-process figure a recommendation may rank by: a knee, or what a measured process
held within the SLO when that is more than the knee said."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanConfig:
    """Assumptions of a capacity plan."""

    users: tuple[int, ...] = PLAN_USERS
    """User counts to plan for (each user is one customer client)."""
    target_utilization: float = 0.6
    """Busy fraction an extrapolation from utilization scales to (shown labelled, never used for ranking)."""
    workload: str | None = None
    """Planning workload to plan for; None: the one the results are for (see planning_workload)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessCapacity:
    """Clients one server process holds for one strategy on a whole core, and where the figure comes from."""

    kind: Kind
    """knee, held (a measured probe held more than the knee said), extrapolation, or none (unknown)."""
    source: str
    """Who produced the figure: measured or sim ('' when none)."""
    clients: float
    """Clients per process (NaN when unknown, 0 when the SLO cannot be met)."""
    at_least: bool
    """True when the figure is a lower bound (a search ceiling, or what a process held)."""
    limit: str
    """What binds on a whole core: CPU, connections, memory, failures, or '' when unknown."""
    basis: str
    """Where the figure comes from, in words ("measured at Q = 0.2, scaled to a whole core")."""
    detail: str = ""
    """The knee itself ("850 clients at 0.2 of a core (CPU-bound)"), when there is one."""

    def processes(self, users: int) -> int | None:
        return servers_needed(users, self.clients)


_UNKNOWN = ProcessCapacity(kind="none", source="", clients=math.nan, at_least=False, limit="", basis=NO_KNEE)


def workload_label(name: str) -> str:
    """How the report names a workload: its name, or what stands in when the runs named none."""
    return name or "the runs' own scenario"


def planning_workload(results: ResultSet, wanted: str | None = None) -> str:
    """The workload to plan for: `wanted`, else the first workload a run names (never the agreement load),
    else '' when runs name none, else the first workload a knee search names."""
    if wanted:
        return wanted
    runs = [str(w) for w in results.runs["workload"] if w != AGREEMENT_WORKLOAD] if len(results.runs) else []
    if any(runs):
        return next(w for w in runs if w)
    if runs:
        return ""
    knees = [str(w) for w in results.knees["workload"] if w != AGREEMENT_WORKLOAD]
    return knees[0] if knees else ""


def _order(results: ResultSet, strategies: list[str]) -> list[str]:
    known = {s: i for i, s in enumerate(results.strategies)}
    return sorted(dict.fromkeys(strategies), key=lambda s: known.get(s, len(known)))


def planning_runs(results: ResultSet, workload: str) -> pd.DataFrame:
    """One run row per strategy of `workload` (measured preferred, then the most clients)."""
    runs = results.runs
    if runs.empty:
        return runs
    mine = runs[runs["workload"] == workload]
    mine = mine.assign(_measured=mine["source"] == "measured")
    mine = mine.sort_values(["_measured", "clients"], ascending=False).drop_duplicates("strategy")
    order = {s: i for i, s in enumerate(results.strategies)}
    mine = mine.drop(columns="_measured").sort_values("strategy", key=lambda s: s.map(order))
    return mine.reset_index(drop=True)


def planning_knees(results: ResultSet, workload: str) -> pd.DataFrame:
    """Knees of `workload`; when the runs name none (''), every knee that is not the agreement load's."""
    knees = results.knees[results.knees["workload"] != AGREEMENT_WORKLOAD]
    return knees if workload == "" else knees[knees["workload"] == workload]


def _pick(knees: pd.DataFrame, strategy: str, source: str) -> Mapping[Any, Any] | None:
    """The knee of `strategy` by `source` that says most about a whole core: one found on a whole core, else
    one with a whole-core figure, else any."""
    mine = knees[(knees["strategy"] == strategy) & (knees["source"] == source)]
    if mine.empty:
        return None
    rank = (mine["quota"] < 1).astype(int) + 2 * mine["full_core_clients"].isna().astype(int)
    return mine.assign(_rank=rank).sort_values("_rank").iloc[0].to_dict()


def _knee_capacity(k: Mapping[Any, Any]) -> ProcessCapacity:
    who = "measured" if k["source"] == "measured" else "simulated"
    q, n, full = float(k["quota"]), int(k["max_clients"]), float(k["full_core_clients"])
    broke = str(k["limited_by"]).split(", ")[0] if k["limited_by"] else ""
    limit = limit_words(str(k["full_core_limit"]) or broke)
    where = quota_text(q)
    there = limit_words(broke)  # what broke at the quota, which may not be what binds on a whole core
    detail = f"{n:,} clients at {where}" + (f" ({there}-bound)" if there and not k["ceiling"] else "")
    if k["ceiling"]:
        detail += " (search ceiling: no probe broke the SLO)"
    if n == 0:
        basis = f"{who}: even the smallest probe broke the SLO at {where} ({k['note']})"
        return ProcessCapacity(kind="knee", source=k["source"], clients=0.0, at_least=False, limit=limit,
                               basis=basis, detail=detail)  # fmt: skip
    if q >= 1:
        basis = f"{who} on a whole core"
        return ProcessCapacity(kind="knee", source=k["source"], clients=float(n), at_least=bool(k["ceiling"]),
                               limit=limit, basis=basis, detail=detail)  # fmt: skip
    if math.isfinite(full) and k["scaled_to_full_core"]:
        basis = f"{who} at Q = {q:g}, scaled to a whole core"
    elif math.isfinite(full) and limit_words(broke) == "CPU":
        basis = f"{who} at Q = {q:g}, scaled to a whole core and capped there by {limit}"
    elif math.isfinite(full):
        basis = f"{who} at Q = {q:g}, bound by {limit}, which does not grow with CPU: not scaled"
    else:  # a ceiling or failures under the quota: a whole core holds at least this, how much more is unknown
        basis = f"{who} at Q = {q:g}, not scalable to a whole core: at least the knee at the quota"
        return ProcessCapacity(kind="knee", source=k["source"], clients=float(n), at_least=True, limit="",
                               basis=basis, detail=detail)  # fmt: skip
    return ProcessCapacity(kind="knee", source=k["source"], clients=full, at_least=False, limit=limit,
                           basis=basis, detail=detail)  # fmt: skip


def _extrapolation(run: Mapping[Any, Any], target: float) -> ProcessCapacity:
    util = float(run["server_utilization"])
    per_process = run["clients"] / max(int(run["server_processes"]), 1)
    if not math.isfinite(util) or util <= 0 or per_process <= 0:
        return _UNKNOWN
    caveat = ", unreliable" if util < LIGHT_LOAD else ""
    basis = (
        f"{NO_KNEE}; extrapolated from {per_process:,.0f} clients per process at {util:.1%} busy to "
        f"{target:.0%} busy ({run['source']}, CPU only: an extrapolation, not a knee{caveat})"
    )
    clients = per_process / util * target
    return ProcessCapacity(kind="extrapolation", source=str(run["source"]), clients=clients, at_least=False,
                           limit="", basis=basis)  # fmt: skip


def _slo_p99(strategy: str) -> float:
    try:
        return float(Slo().p99_for(parse_strategy(strategy)))
    except StrategyError:
        return math.nan


def demonstrated(results: ResultSet, strategy: str, workload: str) -> tuple[float, str]:
    """(most clients one measured process held within the SLO, where), from measured knee probes and
    measured runs of the workload; (0, '') when nothing was measured."""
    best, where = 0.0, ""
    steps = results.capacity
    knees = planning_knees(results, workload)
    runs_of = set(knees["run"])
    ok = steps[
        (steps["strategy"] == strategy) & (steps["source"] == "measured") & steps["ok"].astype(bool)
        & steps["run"].isin(runs_of)
    ]  # fmt: skip
    for s in ok.to_dict("records"):
        if s["clients"] > best:
            best, where = float(s["clients"]), f"a measured probe at {quota_text(float(s['quota']))}"
    runs = results.runs
    mine = runs[
        (runs["strategy"] == strategy) & (runs["source"] == "measured") & (runs["workload"] == workload)
    ]
    for r in mine.to_dict("records"):
        per_process = r["clients"] / max(int(r["server_processes"]), 1)
        if r["latency_s.p99"] <= _slo_p99(strategy) and r["failures"] == 0 and per_process > best:
            best, where = float(per_process), f"the measured run {r['run']}"
    return best, where


def _held(chosen: ProcessCapacity, held: float, where: str) -> ProcessCapacity:
    """What a measured process held, where the chosen figure says less: the figure is no limit."""
    said = (
        "an unknown figure"
        if not math.isfinite(chosen.clients)
        else f"{chosen.clients:,.0f} ({chosen.basis})"
    )
    basis = (
        f"held {held:,.0f} clients within the SLO in {where}: a lower bound; {said} is below it, so no limit"
    )
    return ProcessCapacity(kind="held", source="measured", clients=held, at_least=True, limit="", basis=basis,
                           detail=chosen.detail)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyCapacity:
    """The clients-per-process figures of one strategy: the one the plan uses, and both knees."""

    chosen: ProcessCapacity
    measured: ProcessCapacity
    sim: ProcessCapacity


def strategy_capacity(
    results: ResultSet, strategy: str, workload: str, run: Mapping[Any, Any] | None, target: float
) -> StrategyCapacity:
    """Measured knee first, simulated knee beside it; an extrapolation only when there is no knee."""
    knees = planning_knees(results, workload)
    m, s = _pick(knees, strategy, "measured"), _pick(knees, strategy, "sim")
    measured = _knee_capacity(m) if m is not None else _UNKNOWN
    sim = _knee_capacity(s) if s is not None else _UNKNOWN
    if m is not None:
        chosen = measured
    elif s is not None:
        chosen = sim
    else:
        chosen = _extrapolation(run, target) if run is not None else _UNKNOWN
    held, where = demonstrated(results, strategy, workload)
    if held > 0 and not (chosen.clients >= held):
        chosen = _held(chosen, held, where)
    return StrategyCapacity(chosen=chosen, measured=measured, sim=sim)


PLAN_COLUMNS: tuple[str, ...] = (
    "workload",
    "strategy",
    "users",
    "clients_per_process",
    "at_least",
    "kind",
    "source",
    "basis",
    "limit",
    "detail",
    "server_processes",
    "measured_clients_per_process",
    "measured_basis",
    "measured_limit",
    "measured_server_processes",
    "sim_clients_per_process",
    "sim_basis",
    "sim_limit",
    "sim_server_processes",
    "traffic_gb_per_month",
    "requests_per_month",
    "traffic_source",
)


def _row(workload: str, strategy: str, users: int, cap: StrategyCapacity, run: Any) -> dict[str, Any]:
    nan = math.nan
    clients = run["clients"] if run is not None else 0
    return {
        "workload": workload,
        "strategy": strategy,
        "users": users,
        "clients_per_process": cap.chosen.clients,
        "at_least": cap.chosen.at_least,
        "kind": cap.chosen.kind,
        "source": cap.chosen.source,
        "basis": cap.chosen.basis,
        "limit": cap.chosen.limit,
        "detail": cap.chosen.detail,
        "server_processes": cap.chosen.processes(users),
        "measured_clients_per_process": cap.measured.clients,
        "measured_basis": cap.measured.basis,
        "measured_limit": cap.measured.limit,
        "measured_server_processes": cap.measured.processes(users),
        "sim_clients_per_process": cap.sim.clients,
        "sim_basis": cap.sim.basis if cap.sim.kind == "knee" else "no simulated knee",
        "sim_limit": cap.sim.limit,
        "sim_server_processes": cap.sim.processes(users),
        "traffic_gb_per_month": run["bytes_per_client_per_min"] * users * 60 * 24 * 30 / 1e9
        if clients
        else nan,
        "requests_per_month": run["requests_per_s"] / clients * users * SECONDS_PER_MONTH if clients else nan,
        "traffic_source": str(run["source"]) if run is not None else "",
    }


def capacity_plan(results: ResultSet, config: PlanConfig | None = None) -> pd.DataFrame:
    """The planning table: one row per (strategy, users) of the planning workload (PLAN_COLUMNS).

    ``server_processes`` comes from the chosen figure (``kind``: a knee, what a measured process held, or a
    labelled extrapolation); the measured and simulated knees' own counts sit beside it. Traffic and
    requests per month are the planning run's per-client figures times users (wire bytes both ways, headers
    included).
    """
    cfg = config or PlanConfig()
    workload = planning_workload(results, cfg.workload)
    runs = {str(r["strategy"]): r for r in planning_runs(results, workload).to_dict("records")}
    knees = planning_knees(results, workload)
    rows: list[dict[str, Any]] = []
    for strategy in _order(results, [*runs, *knees["strategy"]]):
        run = runs.get(strategy)
        cap = strategy_capacity(results, strategy, workload, run, cfg.target_utilization)
        rows.extend(_row(workload, strategy, users, cap, run) for users in cfg.users)
    return pd.DataFrame(rows, columns=list(PLAN_COLUMNS))
