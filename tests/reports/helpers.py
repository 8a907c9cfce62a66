"""Small ResultSets built in memory for unit tests of the report's arithmetic."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from pollbench.capacity import CapacityReport
from reports.capacity import knee_table, step_table
from reports.load import METRIC_COLUMNS, ResultSet


def result_set(rows: list[dict[str, Any]], knees: dict[str, CapacityReport] | None = None) -> ResultSet:
    """A ResultSet whose runs are `rows` (missing metrics NaN, failures 0, one process, clients 1000, no
    workload named) and whose knees are `knees` (run label -> capacity report)."""
    full = []
    for r in rows:
        base: dict[str, Any] = {m: math.nan for m in METRIC_COLUMNS}
        base.update(
            failures=0,
            source="sim",
            workload="",
            run=r.get("source", "sim"),
            dir="",
            clients=1000,
            orders_per_client=1,
            server_processes=1,
            seed=1,
            duration_s=60.0,
            extra={},
        )
        base.update(r)
        full.append(base)
    reports = knees or {}
    return ResultSet(
        runs=pd.DataFrame(full),
        deliveries=pd.DataFrame(),
        capacity=step_table(reports),
        knees=knee_table(reports),
        summaries={},
        capacity_reports=reports,
    )


def knee(strategy: str, clients: int, *, source: str = "measured", quota: float | None = 0.2,
         limit: str = "utilization", conns_per_client: float = 1.0, ceiling: bool = False):  # fmt: skip
    """A Knee at exactly `clients` (its last good probe there, the first bad 10 % above), whole-core figures
    filled in by pollbench.capacity (10 000 connections, 2 GB)."""
    from pollbench.capacity import Knee, KneeStep, with_full_core

    def step(n: int, ok: bool) -> KneeStep:
        return KneeStep(clients=n, p50_s=0.5, p99_s=1.0 if ok else 9.0, server_utilization=0.5 if ok else 0.9,
                        open_connections=n * conns_per_client, rss_bytes=1e8 + n * 1e4, fail_ratio=0.0, ok=ok,
                        limited_by=() if ok else (limit,), messages=100,
                        detail={"baseline_rss_bytes": 1e8})  # fmt: skip

    steps = (step(clients, True),) if ceiling else (step(clients, True), step(int(clients * 1.1) + 1, False))
    k = Knee(strategy=strategy, source=source, max_clients=clients, limited_by=() if ceiling else (limit,),  # type: ignore[arg-type]
             ceiling=ceiling, server_cpu_quota=quota, steps=steps)  # fmt: skip
    return with_full_core(k, connection_limit=10_000, memory_budget_bytes=2e9)


def knees_of(*knees: Any, workload: str = "seed-chat") -> dict[str, CapacityReport]:
    """Capacity reports (one per source) holding `knees`, keyed by a run label."""
    from pollbench.capacity import Slo

    out: dict[str, CapacityReport] = {}
    for source in ("measured", "sim"):
        mine = tuple(k for k in knees if k.source == source)
        if mine:
            out[f"knees/{source}"] = CapacityReport(source=source, workload=workload, scenario={}, slo=Slo(),  # type: ignore[arg-type]
                                                    knees=mine)  # fmt: skip
    return out
