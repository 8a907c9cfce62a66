"""Small ResultSets built in memory for unit tests of the report's arithmetic."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from reports.capacity import read_capacity
from reports.load import METRIC_COLUMNS, ResultSet


def result_set(rows: list[dict[str, Any]], capacity: pd.DataFrame | None = None) -> ResultSet:
    """A ResultSet whose runs are `rows` (missing metrics NaN, failures 0, one process, clients 1000)."""
    full = []
    for r in rows:
        base: dict[str, Any] = {m: math.nan for m in METRIC_COLUMNS}
        base.update(
            failures=0,
            source="sim",
            run=r.get("source", "sim"),
            dir="",
            clients=1000,
            server_processes=1,
            seed=1,
            duration_s=60.0,
            extra={},
        )
        base.update(r)
        full.append(base)
    return ResultSet(
        runs=pd.DataFrame(full),
        deliveries=pd.DataFrame(),
        capacity=capacity if capacity is not None else read_capacity(None),
        summaries={},
    )
