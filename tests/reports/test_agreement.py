"""reports.agreement: simulated versus measured, run figures and capacity, with their bars."""

import pytest

from reports.agreement import agreement
from tests.reports.helpers import knee, knees_of, result_set


def _pair(sim_rps=100.0, measured_rps=100.0, *, measured_util=0.3, sim_util=0.3):
    common = {"latency_s.p50": 1.0, "latency_s.p95": 2.0, "bytes_per_poll": 400.0}
    return result_set(
        [
            dict(
                source="sim", strategy="poll:3", requests_per_s=sim_rps, server_utilization=sim_util, **common
            ),
            dict(
                source="measured",
                strategy="poll:3",
                requests_per_s=measured_rps,
                server_utilization=measured_util,
                **common,
            ),
        ]
    )


def _verdict(table, metric):
    return table[table["metric"] == metric].iloc[0]


def test_figures_within_their_bar_agree_and_utilization_is_one_of_them():
    table = agreement(_pair(104.0, 100.0))
    assert table["metric"].tolist() == [
        "latency_s.p50",
        "latency_s.p95",
        "requests_per_s",
        "bytes_per_poll",
        "server_utilization",
    ]
    assert table["agrees"].tolist() == [True] * 5
    assert _verdict(table, "requests_per_s")["ratio"] == 1.04


def test_requests_per_second_six_percent_apart_disagree():
    assert not _verdict(agreement(_pair(106.0, 100.0)), "requests_per_s")["agrees"]


@pytest.mark.parametrize(("sim", "agrees"), [(0.325, True), (0.275, True), (0.335, False), (0.265, False)])
def test_server_utilization_agrees_within_ten_percent(sim, agrees):
    row = _verdict(agreement(_pair(sim_util=sim, measured_util=0.3)), "server_utilization")
    assert row["agrees"] is agrees and row["rule"] == "±10%"


def test_utilization_is_judged_even_on_a_busy_server():
    row = _verdict(agreement(_pair(sim_util=0.95, measured_util=0.9)), "server_utilization")
    assert row["agrees"] and row["moderate_load"]


def test_a_metric_missing_on_one_side_is_not_comparable():
    rs = result_set([dict(source="sim", strategy="sse"), dict(source="measured", strategy="sse")])
    assert agreement(rs)["agrees"].tolist() == [None] * 5


def test_heavy_measured_load_is_marked_on_the_run_figures():
    table = agreement(_pair(measured_util=0.8, sim_util=0.8))
    assert not table[table["metric"] != "server_utilization"]["moderate_load"].any()


def test_strategies_run_one_way_only_or_under_different_workloads_are_not_paired():
    assert agreement(
        result_set([dict(source="sim", strategy="sse"), dict(source="measured", strategy="ws")])
    ).empty
    rs = result_set(
        [dict(source="sim", strategy="sse", workload="seed-chat"), dict(source="measured", strategy="sse")]
    )
    assert agreement(rs).empty


def test_latency_rows_carry_the_measured_sample_count():
    rs = _pair()
    rs.runs["latency_s.count"] = 185
    assert agreement(rs).set_index("metric")["samples"].to_dict() == {
        "latency_s.p50": 185,
        "latency_s.p95": 185,
        "requests_per_s": 0,
        "bytes_per_poll": 0,
        "server_utilization": 0,
    }


def _latency(sim_s, measured_s):
    return _verdict(
        agreement(
            result_set(
                [
                    dict(source="sim", strategy="sse", **{"latency_s.p50": sim_s}),
                    dict(source="measured", strategy="sse", **{"latency_s.p50": measured_s}),
                ]
            )
        ),
        "latency_s.p50",
    )


@pytest.mark.parametrize(
    ("sim", "measured", "agrees"),
    [
        (0.0015, 0.0025, True),  # 1 ms apart: one tick of createdAt, though 40 % in ratio
        (0.0002, 0.0012, True),  # exactly 1 ms
        (0.002, 0.0035, False),  # 1.5 ms apart: more than 1 ms and more than 15 % of 3.5 ms
        (0.009, 0.020, False),  # both under the old 25 ms floor: no longer agree
        (1.14, 1.0, True),  # 14 % of a second
        (1.16, 1.0, False),
    ],
)
def test_latency_agrees_within_15_percent_or_1_ms_whichever_is_larger(sim, measured, agrees):
    row = _latency(sim, measured)
    assert row["agrees"] is agrees and row["rule"] == "±15% or 1 ms"
    assert row["tolerance"] == pytest.approx(max(0.15 * measured, 0.001))


def test_knees_at_the_same_quota_agree_within_20_percent():
    knees = knees_of(
        knee("poll:3", 1000),
        knee("poll:3", 1190, source="sim"),
        knee("sse", 1000),
        knee("sse", 1250, source="sim"),
        knee("sse", 9000, source="sim", quota=None),  # a whole core: no measured twin, not compared
    )
    table = agreement(result_set([], knees))
    rows = table[table["metric"] == "knee_clients"].set_index("strategy")
    assert rows["agrees"].to_dict() == {"poll:3": True, "sse": False}
    assert rows["quota"].tolist() == [0.2, 0.2]
    assert rows.loc["sse", "ratio"] == 1.25


def test_a_search_ceiling_is_not_compared():
    knees = knees_of(knee("sse", 1000, ceiling=True), knee("sse", 3000, source="sim"))
    row = agreement(result_set([], knees)).iloc[0]
    assert row["agrees"] is None and "ceiling" in row["note"]


def test_every_measured_probe_with_a_simulated_twin_is_a_utilization_row():
    from dataclasses import replace

    measured = knee("poll:3", 1000)
    sims = (0.52, 1.0)  # within 10 % of the 0.5 measured; 11 % off the 0.9
    steps = tuple(
        replace(
            s, detail={**s.detail, "sim": {"server_utilization": u, "p99_s": 1.0, "open_connections": 1.0}}
        )
        for s, u in zip(measured.steps, sims, strict=True)
    )
    table = agreement(result_set([], knees_of(replace(measured, steps=steps))))
    rows = table[table["metric"] == "step_utilization"]
    assert rows["clients"].tolist() == [1000, 1101]
    assert rows["measured"].tolist() == [0.5, 0.9] and rows["sim"].tolist() == list(sims)
    assert rows["agrees"].tolist() == [True, False]
