"""reports.load: results directories into one set of DataFrames."""

import math

import pytest

from pollbench.results import DELIVERY_COLUMNS, ResultsError
from pollbench.workload import AGREEMENT_WORKLOAD
from reports.load import METRIC_COLUMNS, find_results_dirs, load_results
from tests.reports.fixtures import STRATEGIES, make_results


def test_one_row_per_run_and_strategy_with_every_metric(results_root):
    rs = load_results([results_root / "sim", results_root / "measured"])
    assert len(rs.runs) == 2 * len(STRATEGIES)
    assert set(METRIC_COLUMNS) <= set(rs.runs.columns)
    assert set(rs.runs["workload"]) == {AGREEMENT_WORKLOAD}
    assert rs.sources == ("sim", "measured")
    assert rs.strategies == STRATEGIES


def test_flattened_metrics_equal_the_summary(results_root):
    rs = load_results([results_root / "sim"])
    summary = rs.summaries["sim"]
    row = rs.runs[rs.runs["strategy"] == "poll:3"].iloc[0]
    assert row["latency_s.p95"] == summary.strategies["poll:3"].latency_s.p95
    assert row["bytes_per_poll"] == summary.strategies["poll:3"].bytes_per_poll
    assert math.isnan(rs.runs[rs.runs["strategy"] == "sse"].iloc[0]["bytes_per_poll"])


def test_a_parent_directory_loads_every_results_directory_below_it_two_levels_deep(results_root):
    found = [p.relative_to(results_root).as_posix() for p in find_results_dirs([results_root])]
    assert found == ["measured", "plan", "sim", "knees/measured", "knees/sim"]
    rs = load_results([results_root])
    assert list(rs.summaries) == ["measured", "plan", "sim"]  # the direct ones keep the short labels
    assert list(rs.capacity_reports) == ["knees/measured", "knees/sim"]


def test_deliveries_are_joined_with_their_source(results_root):
    rs = load_results([results_root])
    assert list(rs.deliveries.columns) == ["run", "source", *DELIVERY_COLUMNS]
    assert set(rs.deliveries["source"]) == {"sim", "measured"}
    assert len(rs.deliveries) == 3 * len(STRATEGIES) * 1500


def test_knees_are_loaded_from_directories_holding_only_capacity_json(results_root):
    rs = load_results([results_root / "knees" / "measured", results_root / "knees" / "sim"])
    assert rs.runs.empty and not rs.summaries
    assert set(rs.knees["strategy"]) == {"poll:3", "seed-dashboard:3", "sse"}
    assert set(rs.knees["source"]) == {"measured", "sim"} and set(rs.knees["workload"]) == {"seed-chat"}
    assert len(rs.capacity) == sum(len(k.steps) for r in rs.capacity_reports.values() for k in r.knees)


def test_two_runs_with_the_same_name_get_distinct_labels(tmp_path):
    make_results(tmp_path / "a" / "run", strategies=("sse",), deliveries=10)
    make_results(tmp_path / "b" / "run", strategies=("sse",), deliveries=10)
    rs = load_results([tmp_path / "a" / "run", tmp_path / "b" / "run"])
    assert sorted(rs.summaries) == ["b/run", "run"]


def test_missing_directory_is_a_results_error(tmp_path):
    with pytest.raises(ResultsError, match="no such directory"):
        load_results([tmp_path / "nope"])


def test_directory_without_summary_is_a_results_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResultsError, match="not a results directory"):
        load_results([tmp_path / "empty"])


def test_deliveries_lacking_columns_are_a_results_error(tmp_path):
    import pandas as pd

    make_results(tmp_path / "r", strategies=("sse",), deliveries=10)
    pd.DataFrame({"strategy": ["sse"]}).to_parquet(tmp_path / "r" / "deliveries.parquet")
    with pytest.raises(ResultsError, match="lacks delivery columns"):
        load_results([tmp_path / "r"])
