"""What the numbers say: the seed's claims confronted with the results, and a recommendation with reasons.

The seed system (a dashboard polling every 3 s) claims ~2 KB per poll per order, "100+ concurrent pollers per
server" and ~3-second latency. Each claim is checked against the figures of the strategy it is about. The
recommendation is computed, not written: among strategies whose p95 delivery latency meets the target and that
had no failures, the one needing the fewest server processes at the planning size (ties: less traffic).
Measured figures are preferred over simulated ones where a strategy has both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from reports.load import ResultSet
from reports.numbers import si
from reports.planning import PlanConfig, capacity_plan

__all__ = [
    "SEED_BYTES_PER_POLL",
    "SEED_LATENCY_S",
    "SEED_POLLERS_PER_SERVER",
    "Finding",
    "RecommendConfig",
    "preferred",
    "recommend",
    "seed_claims",
]

SEED_BYTES_PER_POLL = 2048.0
"""The seed: "Bandwidth: ~2KB per poll per order"."""
SEED_POLLERS_PER_SERVER = 100.0
"""The seed: "Max concurrent polling: 100+ per server"."""
SEED_LATENCY_S = 3.0
"""The seed: "All message updates display automatically with ~3-second latency"."""
_SEED_STRATEGIES = ("seed-dashboard:3", "poll:3")


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
    plan: PlanConfig = PlanConfig()
    """Capacity-plan assumptions."""


def preferred(results: ResultSet, config: RecommendConfig) -> pd.DataFrame:
    """One row per strategy: its run metrics joined with its plan at `config.users`.

    Measured rows are preferred, unless their capacity figure is an extrapolation from a nearly idle server:
    then the simulated row (a calibrated model run at scale) is the better basis for a plan.
    """
    plan = capacity_plan(results, config.plan)
    if plan.empty:
        return pd.DataFrame()
    plan = plan[plan["users"] == config.users].rename(columns={"server_processes": "processes_needed"})
    runs = results.runs.sort_values("clients", ascending=False).drop_duplicates(["source", "strategy"])
    merged = runs.merge(plan, on=["source", "strategy"])
    measured = merged["source"] == "measured"
    merged["_rank"] = (~measured).astype(int) + 2 * (measured & ~merged["reliable"].astype(bool)).astype(int)
    best = merged.sort_values(["strategy", "_rank"]).drop_duplicates("strategy").drop(columns="_rank")
    order = {s: i for i, s in enumerate(results.strategies)}
    return best.sort_values("strategy", key=lambda s: s.map(order)).reset_index(drop=True)


def _seed_rows(table: pd.DataFrame) -> list[Any]:
    """The seed's own strategy first (its claims are about it), then poll:3 for contrast."""
    rows = {r.strategy: r for r in table.itertuples(index=False) if r.strategy in _SEED_STRATEGIES}
    return [rows[s] for s in _SEED_STRATEGIES if s in rows]


def _verdict(holds: bool) -> str:
    return "holds" if holds else "does not hold"


def _claim_bytes(rows: list[Any]) -> Finding:
    title = "“~2 KB per poll per order”"
    have = [r for r in rows if math.isfinite(r.bytes_per_poll)]
    if not have:
        text = "No seed-dashboard:3 or poll:3 result has bytes per poll."
        return Finding(title=title, verdict="no data", text=text)
    parts = [
        f"{r.strategy} ({r.source}): {r.bytes_per_poll:,.0f} B per poll, "
        f"{r.bytes_per_poll / SEED_BYTES_PER_POLL:.2f}× the claim"
        for r in have
    ]
    # "~2 KB": within a factor of two of 2 KB still counts as roughly right
    holds = 0.5 <= have[0].bytes_per_poll / SEED_BYTES_PER_POLL <= 2.0
    return Finding(
        title=title, verdict=_verdict(holds), text=f"Judged on {have[0].strategy}. " + "; ".join(parts) + "."
    )


def _claim_pollers(rows: list[Any]) -> Finding:
    title = "“Max concurrent polling: 100+ per server”"
    have = [r for r in rows if math.isfinite(r.max_clients_per_process)]
    if not have:
        text = "No capacity figure for seed-dashboard:3 or poll:3."
        return Finding(title=title, verdict="no data", text=text)
    parts = [
        f"{r.strategy} ({r.source}): {r.max_clients_per_process:,.0f} clients per process — {r.basis}"
        for r in have
    ]
    holds = have[0].max_clients_per_process >= SEED_POLLERS_PER_SERVER
    # a figure extrapolated from a nearly idle server cannot confirm or refute a capacity claim
    verdict = "uncertain" if "unreliable" in str(have[0].basis) else _verdict(holds)
    return Finding(
        title=title, verdict=verdict, text=f"Judged on {have[0].strategy}. " + "; ".join(parts) + "."
    )


def _claim_latency(rows: list[Any]) -> Finding:
    title = "“~3-second latency”"
    have = [r for r in rows if math.isfinite(r.lat_p99)]
    if not have:
        text = "No latency figures for seed-dashboard:3 or poll:3."
        return Finding(title=title, verdict="no data", text=text)
    parts = [
        f"{r.strategy} ({r.source}): p50 {r.lat_p50:.2f} s, p95 {r.lat_p95:.2f} s, p99 {r.lat_p99:.2f} s"
        for r in have
    ]
    # "~3 s": allow the tilde 10 % (a 3 s poll plus a round trip) before calling the claim broken
    holds = have[0].lat_p99 <= SEED_LATENCY_S * 1.1
    tail = " 99 % of messages arrive within about 3 s." if holds else " The slowest 1 % take well over 3 s."
    text = f"Judged on {have[0].strategy}. " + "; ".join(parts) + "." + tail
    return Finding(title=title, verdict=_verdict(holds), text=text)


def _with_plain_names(table: pd.DataFrame) -> pd.DataFrame:
    """Latency columns renamed to identifiers so that itertuples keeps them."""
    return table.rename(
        columns={"latency_s.p50": "lat_p50", "latency_s.p95": "lat_p95", "latency_s.p99": "lat_p99"}
    )


def seed_claims(results: ResultSet, config: RecommendConfig | None = None) -> list[Finding]:
    """The seed's three claims, each with its verdict and the numbers behind it."""
    table = preferred(results, config or RecommendConfig())
    rows = _seed_rows(_with_plain_names(table)) if not table.empty else []
    return [_claim_bytes(rows), _claim_pollers(rows), _claim_latency(rows)]


def _compare_to_seed(best: Any, table: pd.DataFrame) -> str:
    seed = table[table["strategy"] == "seed-dashboard:3"]
    if seed.empty or seed.iloc[0]["strategy"] == best.strategy:
        return ""
    s = seed.iloc[0]
    out = f" The seed's dashboard (seed-dashboard:3) would need {_procs(s['processes_needed'])} process(es)"
    if best.traffic_gb_per_month > 0:
        out += f" and {s['traffic_gb_per_month'] / best.traffic_gb_per_month:.1f}× the traffic"
    return out + "."


def _disagreement_note(results: ResultSet, strategy: str) -> str:
    """A warning when the recommended strategy's simulated and measured figures disagree."""
    from reports.agreement import agreement

    table = agreement(results)
    if table.empty:
        return ""
    disagrees = table["agrees"].map(lambda a: a is False)  # None means "not comparable", not a disagreement
    bad = table[(table["strategy"] == strategy) & disagrees]
    if bad.empty:
        return ""
    return f" Caution: its simulated and measured {', '.join(bad['metric'])} disagree (see below)."


def _procs(value: Any) -> str:
    return "an unknown number of" if value is None or pd.isna(value) else f"{int(value):,}"


def recommend(results: ResultSet, config: RecommendConfig | None = None) -> Finding:
    """The strategy to adopt, with the figures that make it the choice."""
    cfg = config or RecommendConfig()
    table = preferred(results, cfg)
    title = f"Recommendation for {cfg.users:,} users (p95 latency ≤ {cfg.latency_target_s:g} s)"
    if table.empty:
        return Finding(title=title, verdict="no data", text="No results to recommend from.")
    named = _with_plain_names(table)
    ok = named[(named["lat_p95"] <= cfg.latency_target_s) & (named["failures"] == 0)]
    ok = ok[ok["processes_needed"].notna()]
    missed = sorted(set(named["strategy"]) - set(ok["strategy"]))
    if ok.empty:
        return Finding(
            title=title, verdict="no data", text="No strategy met the latency target without failures."
        )
    best = ok.sort_values(["processes_needed", "traffic_gb_per_month"]).iloc[0]
    text = (
        f"{best['strategy']} ({best['source']}): p95 delivery latency {best['lat_p95']:.2f} s, "
        f"{_procs(best['processes_needed'])} server process(es) for {cfg.users:,} users "
        f"({best['max_clients_per_process']:,.0f} clients per process, {best['basis']}), "
        f"{best['traffic_gb_per_month']:,.1f} GB/month of traffic, "
        f"{si(best['requests_per_month'])} requests/month."
    )
    text += _compare_to_seed(best, table)
    text += _disagreement_note(results, str(best["strategy"]))
    others = ok[ok["strategy"] != best["strategy"]]
    if not others.empty:
        runner = others.sort_values(["processes_needed", "traffic_gb_per_month"]).iloc[0]
        text += f" Runner-up: {runner['strategy']} with {_procs(runner['processes_needed'])} process(es)."
    if missed:
        text += f" Missed the latency target or had failures: {', '.join(missed)}."
    return Finding(title=title, verdict="recommended", text=text)
