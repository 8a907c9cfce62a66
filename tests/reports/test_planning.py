"""reports.planning: servers, traffic and requests for 1k to 1M users."""

import pandas as pd
import pytest

from reports.planning import PlanConfig, capacity_plan
from tests.reports.helpers import result_set


def _one(**kw):
    base = dict(
        source="sim",
        strategy="poll:5",
        clients=1000,
        server_utilization=0.2,
        requests_per_s=200.0,
        bytes_per_client_per_min=6000.0,
    )
    base.update(kw)
    return result_set([base])


def test_derived_capacity_is_clients_over_utilization_times_target():
    plan = capacity_plan(_one(), PlanConfig(users=(100_000,), target_utilization=0.6))
    row = plan.iloc[0]
    assert row["max_clients_per_process"] == pytest.approx(1000 / 0.2 * 0.6)
    assert row["server_processes"] == 34  # ceil(100000 / 3000)
    assert row["basis"].startswith("derived")


def test_traffic_and_requests_per_month_scale_per_client_figures():
    plan = capacity_plan(_one(), PlanConfig(users=(1_000_000,)))
    row = plan.iloc[0]
    assert row["traffic_gb_per_month"] == pytest.approx(6000 * 1_000_000 * 60 * 24 * 30 / 1e9)
    assert row["requests_per_month"] == pytest.approx(0.2 * 1_000_000 * 86400 * 30)


def test_capacity_search_wins_over_derivation():
    cap = pd.DataFrame(
        [
            {
                "run": "sim",
                "source": "sim",
                "strategy": "poll:5",
                "server_processes": 1,
                "slo_p99_s": 3.0,
                "clients": c,
                "p99_s": 1.0,
                "utilization": 0.1,
                "fail_ratio": 0.0,
                "ok": c <= 400,
            }
            for c in (200, 400, 800)
        ]
    )
    row = capacity_plan(
        result_set(
            [
                dict(
                    source="sim",
                    strategy="poll:5",
                    server_utilization=0.2,
                    requests_per_s=1.0,
                    bytes_per_client_per_min=1.0,
                )
            ],
            cap,
        ),
        PlanConfig(users=(10_000,)),
    ).iloc[0]
    assert row["max_clients_per_process"] == 400
    assert row["server_processes"] == 25
    assert row["basis"] == "capacity search (SLO p99 3 s)"


def test_no_utilization_means_no_server_count():
    row = capacity_plan(_one(server_utilization=float("nan")), PlanConfig(users=(1000,))).iloc[0]
    assert row["server_processes"] is None
    assert row["basis"].startswith("unknown")


def test_one_row_per_strategy_and_user_count():
    plan = capacity_plan(result_set([dict(strategy="sse"), dict(strategy="ws")]))
    assert len(plan) == 2 * 4
    assert sorted(plan["users"].unique()) == [1_000, 10_000, 100_000, 1_000_000]


def test_a_derivation_from_a_nearly_idle_server_is_flagged_unreliable():
    row = capacity_plan(_one(server_utilization=0.02), PlanConfig(users=(1000,))).iloc[0]
    assert "extrapolated from a light load, unreliable" in row["basis"]
