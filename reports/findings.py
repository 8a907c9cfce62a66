"""What the numbers say: the seed's claims judged on the planning workload, and a recommendation with reasons.

The seed system (a dashboard polling every 3 s) claims ~2 KB per poll per order, "100+ concurrent pollers per
server" and ~3-second latency. Each claim is judged on the planning workload (never on a comparison's
chatty agreement load): bytes per poll and latency on its run, the pollers on the knee of seed-dashboard:3.
The recommendation is computed, not written: among strategies whose p95 delivery latency meets the target
with no failures, the one needing the fewest server processes at the planning size by knee-based clients per
process (ties: less traffic). Every figure names its workload and its basis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pollbench.workload import AGREEMENT_WORKLOAD
from reports.capacity import limit_words, quota_text
from reports.load import ResultSet
from reports.numbers import si
from reports.planning import (
    NO_KNEE,
    RANKED_KINDS,
    PlanConfig,
    capacity_plan,
    planning_knees,
    planning_runs,
    planning_workload,
    workload_label,
)

__all__ = [
    "SEED_BYTES_PER_POLL",
    "SEED_LATENCY_S",
    "SEED_POLLERS_PER_SERVER",
    "Finding",
    "RecommendConfig",
    "planning_table",
    "recommend",
    "seed_claims",
]

SEED_BYTES_PER_POLL = 2048.0
"""The seed: "Bandwidth: ~2KB per poll per order"."""
SEED_POLLERS_PER_SERVER = 100.0
"""The seed: "Max concurrent polling: 100+ per server"."""
SEED_LATENCY_S = 3.0
"""The seed: "All message updates display automatically with ~3-second latency"."""
SEED_STRATEGY = "seed-dashboard:3"
_CONTRAST = "poll:3"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One statement of the report, with its verdict."""

    title: str
    """What is being checked, e.g. the seed's claim quoted."""
    verdict: str
    """One of: holds, does not hold, uncertain, no data, recommended."""
    text: str
    """The numbers behind the verdict, in a sentence or two."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecommendConfig:
    """What a recommended strategy must achieve."""

    latency_target_s: float = SEED_LATENCY_S
    """Largest acceptable p95 delivery latency, seconds (default: the seed's 3 s)."""
    users: int = 100_000
    """Planning size the server count is compared at."""
    plan: PlanConfig = field(default_factory=PlanConfig)
    """Capacity-plan assumptions (and the planning workload, when named)."""


def planning_table(results: ResultSet, config: RecommendConfig) -> pd.DataFrame:
    """One row per strategy run under the planning workload: its run figures joined with its plan at
    `config.users` (plan columns prefixed ``plan_`` where they clash: ``plan_source`` is the knee's)."""
    workload = planning_workload(results, config.plan.workload)
    runs = planning_runs(results, workload)
    if runs.empty:
        return pd.DataFrame()
    plan = capacity_plan(results, config.plan)
    plan = plan[plan["users"] == config.users].drop(columns=["workload", "users"])
    plan = plan.rename(columns={"source": "plan_source", "server_processes": "processes_needed"})
    table = runs.merge(plan, on="strategy", how="left")
    return table.rename(
        columns={"latency_s.p50": "lat_p50", "latency_s.p95": "lat_p95", "latency_s.p99": "lat_p99"}
    )


def _verdict(holds: bool) -> str:
    return "holds" if holds else "does not hold"


def _run_of(table: pd.DataFrame, strategy: str) -> Any | None:
    rows = table[table["strategy"] == strategy] if not table.empty else table
    return None if rows.empty else rows.iloc[0]


def _claim_bytes(table: pd.DataFrame, label: str) -> Finding:
    title = "“~2 KB per poll per order”"
    have = [r for s in (SEED_STRATEGY, _CONTRAST) if (r := _run_of(table, s)) is not None]
    have = [r for r in have if math.isfinite(r["bytes_per_poll"])]
    if not have:
        return Finding(
            title=title, verdict="no data", text=f"No {SEED_STRATEGY} run of {label} has bytes per poll."
        )
    parts = [f"{r['strategy']} ({r['source']}): {_per_order(r)[1]}" for r in have]
    # "~2 KB": within a factor of two of 2 KB still counts as roughly right
    holds = 0.5 <= _per_order(have[0])[0] / SEED_BYTES_PER_POLL <= 2.0
    text = f"Judged on {have[0]['strategy']} under {label}. " + "; ".join(parts) + "."
    return Finding(title=title, verdict=_verdict(holds), text=text)


def _per_order(r: Any) -> tuple[float, str]:
    """(bytes per poll per order, in words): one poll of the seed's dashboard fetches every order's
    conversation, so the claim is a poll's bytes shared out over the client's orders."""
    orders = int(r["orders_per_client"]) if r["orders_per_client"] > 0 else 1
    per_order = r["bytes_per_poll"] / orders
    ratio = f"{per_order / SEED_BYTES_PER_POLL:.2f}× the claim"
    if orders == 1:
        return per_order, f"{per_order:,.0f} B per poll, {ratio}"
    return (
        per_order,
        f"{r['bytes_per_poll']:,.0f} B per poll of {orders} orders: {per_order:,.0f} B per order, {ratio}",
    )


def _knee_words(k: Mapping[Any, Any]) -> tuple[str, float]:
    """("850 clients at 0.2 of a core (CPU-bound), 4,250 scaled to a whole core", whole-core clients)."""
    n, q, full = int(k["max_clients"]), float(k["quota"]), float(k["full_core_clients"])
    broke = str(k["limited_by"]).split(", ")[0] if k["limited_by"] else ""
    limit = limit_words(broke)
    text = f"{n:,} clients at {quota_text(q)}" + (
        " (search ceiling)" if k["ceiling"] else f" ({limit}-bound)"
    )
    if q < 1 and math.isfinite(full):
        whole = limit_words(str(k["full_core_limit"]))
        how = "scaled to a whole core" if k["scaled_to_full_core"] else f"on a whole core ({whole}-bound)"
        text += f", {full:,.0f} {how}"
    elif q < 1:
        text += ", unknown on a whole core"
    return text, full if math.isfinite(full) else (float(n) if q >= 1 else math.nan)


def _pollers_verdict(k: Mapping[Any, Any], whole: float) -> str:
    if math.isfinite(whole):
        return _verdict(whole >= SEED_POLLERS_PER_SERVER)
    # unknown on a whole core: holding 100 at a fraction of one is enough to confirm it, not to refute it
    return "holds" if k["max_clients"] >= SEED_POLLERS_PER_SERVER else "uncertain"


def _claim_pollers(results: ResultSet, workload: str) -> Finding:
    title = "“Max concurrent polling: 100+ per server”"
    knees = planning_knees(results, workload)
    label = workload_label(workload)

    def pick(source: str, quota: float | None = None) -> Mapping[Any, Any] | None:
        mine = knees[(knees["strategy"] == SEED_STRATEGY) & (knees["source"] == source)]
        if quota is not None:
            mine = mine[mine["quota"] == quota]
        if mine.empty:
            return None
        return mine.sort_values("quota").iloc[0].to_dict()  # the lowest: the quota a measurement ran at

    measured = pick("measured")
    sim = pick("sim", None if measured is None else float(measured["quota"])) or pick("sim")
    if measured is None and sim is None:
        return Finding(
            title=title, verdict="no data", text=f"No knee of {SEED_STRATEGY} under {label}: {NO_KNEE}."
        )
    parts = []
    if measured is not None:
        words, whole = _knee_words(measured)
        verdict = _pollers_verdict(measured, whole)
        parts.append(f"Measured knee of {SEED_STRATEGY} under {label}: {words}: {verdict}.")
    if sim is not None:
        words, sim_whole = _knee_words(sim)
        core = pick("sim", 1.0)
        if core is not None and float(sim["quota"]) < 1:
            words += f"; {_knee_words(core)[0]}"
        if measured is None:
            verdict = _pollers_verdict(sim, sim_whole)
            parts.append(f"{NO_KNEE.capitalize()}. Simulated knee of {SEED_STRATEGY} under {label}: {words}: "
                         f"{verdict} (a model's figure).")  # fmt: skip
        else:
            parts.append(f"Simulated: {words}.")
    return Finding(title=title, verdict=verdict, text=" ".join(parts))


def _claim_latency(results: ResultSet, workload: str) -> Finding:
    title = "“~3-second latency”"
    label = workload_label(workload)
    runs = results.runs
    mine = runs[(runs["workload"] == workload) & (runs["strategy"] == SEED_STRATEGY)] if len(runs) else runs
    mine = mine[mine["latency_s.p99"].notna()] if len(mine) else mine
    if mine.empty:
        return Finding(title=title, verdict="no data", text=f"No {SEED_STRATEGY} latency under {label}.")
    # the planning simulation's figure where there is one: the seed's claim is about its deployment at scale
    r = mine.sort_values("source", key=lambda s: s != "sim").iloc[0]
    holds = r["latency_s.p99"] <= SEED_LATENCY_S * 1.1  # "~3 s": a 3 s poll plus a round trip, 10 % of tilde
    tail = " 99 % of messages arrive within about 3 s." if holds else " The slowest 1 % take well over 3 s."
    what = "simulation" if r["source"] == "sim" else "measurement"
    text = (
        f"Judged on the {label} {what} of {SEED_STRATEGY}: p50 {r['latency_s.p50']:.2f} s, "
        f"p95 {r['latency_s.p95']:.2f} s, p99 {r['latency_s.p99']:.2f} s." + tail
    )
    return Finding(title=title, verdict=_verdict(holds), text=text)


def seed_claims(results: ResultSet, config: RecommendConfig | None = None) -> list[Finding]:
    """The seed's three claims, each judged on the planning workload, with the numbers behind it."""
    cfg = config or RecommendConfig()
    workload = planning_workload(results, cfg.plan.workload)
    table = planning_runs(results, workload)
    return [
        _claim_bytes(table, workload_label(workload)),
        _claim_pollers(results, workload),
        _claim_latency(results, workload),
    ]


def _procs(value: Any) -> str:
    return "an unknown number of" if value is None or pd.isna(value) else f"{int(value):,}"


def _clients(row: Any) -> str:
    x = row["clients_per_process"]
    if x is None or pd.isna(x):
        return "unknown"
    return ("≥ " if row["at_least"] else "") + f"{x:,.0f}"


def _compare_to_seed(best: Any, table: pd.DataFrame) -> str:
    seed = table[table["strategy"] == SEED_STRATEGY]
    if seed.empty or best["strategy"] == SEED_STRATEGY:
        return ""
    s = seed.iloc[0]
    out = f" The seed's dashboard ({SEED_STRATEGY}) would need {_procs(s['processes_needed'])} process(es)"
    if s["kind"] not in RANKED_KINDS:
        out += f" ({s['kind'] if s['kind'] != 'none' else 'no knee'})"
    if best["traffic_gb_per_month"] > 0:
        out += f" and {s['traffic_gb_per_month'] / best['traffic_gb_per_month']:.1f}× the traffic"
    return out + "."


def _disagreement_note(results: ResultSet, strategy: str) -> str:
    """A warning when the recommended strategy's simulated and measured figures disagree."""
    from reports.agreement import agreement, metric_label

    table = agreement(results)
    if table.empty:
        return ""
    bad = table[(table["strategy"] == strategy) & table["agrees"].map(lambda a: a is False)]
    if bad.empty:
        return ""
    where = sorted(set(bad["workload"]))
    metrics = dict.fromkeys(metric_label(r) for r in bad.to_dict("records"))
    return (
        f" Caution: its simulated and measured {', '.join(metrics)} disagree "
        f"under {', '.join(workload_label(w) for w in where)} (see below)."
    )


def _per_strategy(table: pd.DataFrame) -> str:
    rows = table.to_dict("records")
    parts = [f"{r['strategy']} {_clients(r)} ({r['basis']})" for r in rows if r["kind"] in RANKED_KINDS]
    guessed = [f"{r['strategy']} ~{_clients(r)}" for r in rows if r["kind"] == "extrapolation"]
    unknown = [str(r["strategy"]) for r in rows if r["kind"] == "none"]
    if guessed:
        parts.append("extrapolated from utilization, not knees: " + ", ".join(guessed))
    if unknown:
        parts.append("unknown: " + ", ".join(unknown))
    return "; ".join(parts)


def _no_plan_text(results: ResultSet, label: str) -> str:
    agreement_only = len(results.runs) and set(results.runs["workload"]) == {AGREEMENT_WORKLOAD}
    if agreement_only:
        return (
            "These results are a comparison's agreement load only, which is not planned for: simulate a "
            "planning workload (pollbench compare does, or pollbench simulate --workload seed-chat)."
        )
    return f"No results of {label} to recommend from."


def recommend(results: ResultSet, config: RecommendConfig | None = None) -> Finding:
    """The strategy to adopt for the planning workload, with the figures that make it the choice."""
    cfg = config or RecommendConfig()
    workload = planning_workload(results, cfg.plan.workload)
    label = workload_label(workload)
    table = planning_table(results, cfg)
    title = f"Recommendation for {cfg.users:,} users of {label} (p95 latency ≤ {cfg.latency_target_s:g} s)"
    if table.empty:
        return Finding(title=title, verdict="no data", text=_no_plan_text(results, label))
    ok = table[(table["lat_p95"] <= cfg.latency_target_s) & (table["failures"] == 0)]
    missed = [s for s in table["strategy"] if s not in set(ok["strategy"])]
    if ok.empty:
        text = f"No strategy met the latency target without failures under {label}."
        return Finding(title=title, verdict="no data", text=text)
    ranked = ok[ok["kind"].isin(RANKED_KINDS) & ok["processes_needed"].notna()]
    unranked = [s for s in ok["strategy"] if s not in set(ranked["strategy"])]
    tail = f" Clients per process under {label}: {_per_strategy(table)}."
    if unranked and not ranked.empty:
        tail += f" Not ranked, no knee: {', '.join(unranked)} ({NO_KNEE})."
    if missed:
        tail += f" Missed the latency target or had failures: {', '.join(missed)}."
    if ranked.empty:
        by_traffic = ok.sort_values("traffic_gb_per_month")
        names = ", ".join(
            f"{r['strategy']} ({r['traffic_gb_per_month']:,.1f} GB/month)" for _, r in by_traffic.iterrows()
        )
        text = (f"No knee, so no strategy can be ranked by server processes ({NO_KNEE}). Meeting the target "
                f"under {label}, least traffic first: {names}.")  # fmt: skip
        return Finding(title=title, verdict="uncertain", text=text + tail)
    best = ranked.sort_values(["processes_needed", "traffic_gb_per_month"]).iloc[0]
    limit = f"; bound by {best['limit']}" if best["limit"] and best["limit"] not in best["basis"] else ""
    text = (
        f"{best['strategy']}: p95 delivery latency {best['lat_p95']:.2f} s under {label} ({best['source']}), "
        f"{_procs(best['processes_needed'])} server process(es) for {cfg.users:,} users at {_clients(best)} "
        f"clients per process ({best['basis']}{limit}), {best['traffic_gb_per_month']:,.1f} GB/month and "
        f"{si(best['requests_per_month'])} requests/month of {label} traffic."
    )
    text += _compare_to_seed(best, table)
    text += _disagreement_note(results, str(best["strategy"]))
    others = ranked[ranked["strategy"] != best["strategy"]]
    if not others.empty:
        runner = others.sort_values(["processes_needed", "traffic_gb_per_month"]).iloc[0]
        text += f" Runner-up: {runner['strategy']} with {_procs(runner['processes_needed'])} process(es)."
    return Finding(title=title, verdict="recommended", text=text + tail)
