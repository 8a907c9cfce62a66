"""reports.load: results directories into one set of DataFrames."""

import math

import pytest

from pollbench.results import DELIVERY_COLUMNS, ResultsError
from reports.load import METRIC_COLUMNS, find_results_dirs, load_results
from tests.reports.fixtures import STRATEGIES, make_results


def test_one_row_per_run_and_strategy_with_every_metric(results_root):
    rs = load_results([results_root / "sim", results_root / "measured"])
    assert len(rs.runs) == 2 * len(STRATEGIES)
    assert set(METRIC_COLUMNS) <= set(rs.runs.columns)
    assert rs.sources == ("sim", "measured")
    assert rs.strategies == STRATEGIES


def test_flattened_metrics_equal_the_summary(results_root):
    rs = load_results([results_root / "sim"])
    summary = rs.summaries["sim"]
    row = rs.runs[rs.runs["strategy"] == "poll:3"].iloc[0]
    assert row["latency_s.p95"] == summary.strategies["poll:3"].latency_s.p95
    assert row["bytes_per_poll"] == summary.strategies["poll:3"].bytes_per_poll
    assert math.isnan(rs.runs[rs.runs["strategy"] == "sse"].iloc[0]["bytes_per_poll"])


def test_a_parent_directory_loads_every_results_directory_below_it(results_root):
    assert [p.name for p in find_results_dirs([results_root])] == ["measured", "sim"]


def test_deliveries_are_joined_with_their_source(results_root):
    rs = load_results([results_root])
    assert list(rs.deliveries.columns) == ["run", "source", *DELIVERY_COLUMNS]
    assert set(rs.deliveries["source"]) == {"sim", "measured"}
    assert len(rs.deliveries) == 2 * len(STRATEGIES) * 1500


def test_capacity_steps_are_loaded_when_present(results_root):
    rs = load_results([results_root])
    assert set(rs.capacity["strategy"]) == {"poll:3", "sse"}
    assert set(rs.capacity["source"]) == {"measured"}


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
