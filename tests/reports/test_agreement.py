"""reports.agreement: simulated versus measured, with the calibration bars."""

from reports.agreement import agreement
from tests.reports.helpers import result_set


def _pair(sim_rps, measured_rps, measured_util=0.3):
    common = {"latency_s.p50": 1.0, "latency_s.p95": 2.0, "bytes_per_poll": 400.0}
    return result_set(
        [
            dict(source="sim", strategy="poll:3", requests_per_s=sim_rps, server_utilization=0.3, **common),
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


def test_figures_within_their_bar_agree():
    table = agreement(_pair(104.0, 100.0))
    assert table["agrees"].tolist() == [True, True, True, True]
    assert _verdict(table, "requests_per_s")["ratio"] == 1.04


def test_requests_per_second_six_percent_apart_disagree():
    row = _verdict(agreement(_pair(106.0, 100.0)), "requests_per_s")
    assert not row["agrees"]


def test_a_metric_missing_on_one_side_is_not_comparable():
    rs = result_set([dict(source="sim", strategy="sse"), dict(source="measured", strategy="sse")])
    assert agreement(rs)["agrees"].tolist() == [None] * 4


def test_heavy_measured_load_is_marked():
    assert not agreement(_pair(100.0, 100.0, measured_util=0.8))["moderate_load"].any()


def test_strategies_run_one_way_only_are_not_paired():
    rs = result_set([dict(source="sim", strategy="sse"), dict(source="measured", strategy="ws")])
    assert agreement(rs).empty


def test_latency_rows_carry_the_measured_sample_count():
    rs = _pair(100.0, 100.0)
    rs.runs["latency_s.count"] = 185
    table = agreement(rs)
    assert table.set_index("metric")["samples"].to_dict() == {
        "latency_s.p50": 185,
        "latency_s.p95": 185,
        "requests_per_s": 0,
        "bytes_per_poll": 0,
    }


def _latency_pair(sim_p50, measured_p50):
    return result_set(
        [
            dict(source="sim", strategy="sse", **{"latency_s.p50": sim_p50, "latency_s.p95": sim_p50}),
            dict(source="measured", strategy="sse", **{"latency_s.p50": measured_p50, "latency_s.p95": 1.0}),
        ]
    )


def test_latencies_both_under_the_floor_agree_whatever_their_ratio():
    row = _verdict(agreement(_latency_pair(0.0002, 0.009)), "latency_s.p50")
    assert row["agrees"] and row["below_floor"] and row["ratio"] < 0.1


def test_a_latency_above_the_floor_on_one_side_is_judged_by_its_ratio():
    table = agreement(_latency_pair(0.0002, 1.0))
    p95 = _verdict(table, "latency_s.p95")
    assert not p95["agrees"] and not p95["below_floor"]
