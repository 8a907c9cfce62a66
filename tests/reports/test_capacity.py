"""reports.capacity: knees read through pollbench.capacity.read_capacity, as tables the report uses."""

import json
import math

import pytest

from pollbench.results import ResultsError
from reports.capacity import limit_words, load_capacity, quota_text
from reports.load import load_results
from tests.reports.fixtures import found_knee, make_results, write_knees


def test_a_knee_search_becomes_one_knee_row_and_one_row_per_probe(tmp_path):
    knee = found_knee("poll:3", 1000, source="measured", quota=0.2, sim_ratio=1.0)
    write_knees(tmp_path, "measured", [knee])
    rs = load_results([tmp_path])
    (row,) = rs.knees.to_dict("records")
    assert (row["strategy"], row["source"], row["workload"], row["quota"]) == (
        "poll:3",
        "measured",
        "seed-chat",
        0.2,
    )
    assert row["max_clients"] == knee.max_clients and row["full_core_clients"] == knee.full_core_clients
    assert row["limited_by"] == "utilization" and row["full_core_limit"] == "utilization"
    assert row["slo_p99_s"] == 5.0  # the default SLO of poll:3: its 3 s wait plus 2 s
    steps = rs.capacity
    assert list(steps["clients"]) == [s.clients for s in knee.steps]
    assert steps["sim_server_utilization"].tolist() == pytest.approx(steps["server_utilization"].tolist())


def test_a_whole_core_is_quota_one_and_steps_without_a_simulated_twin_have_none(tmp_path):
    write_knees(tmp_path, "sim", [found_knee("sse", 400, source="sim", quota=None)])
    rs = load_results([tmp_path])
    assert rs.knees["quota"].tolist() == [1.0]
    assert rs.capacity["sim_server_utilization"].isna().all()


def test_knees_next_to_a_summary_are_loaded_with_the_run(tmp_path):
    make_results(tmp_path / "run", strategies=("poll:3",), deliveries=10, workload="seed-chat")
    write_knees(tmp_path / "run", "sim", [found_knee("poll:3", 200, source="sim", quota=None)])
    rs = load_results([tmp_path / "run"])
    assert list(rs.summaries) == ["run"] and list(rs.capacity_reports) == ["run"]
    assert set(rs.knees["run"]) == {"run"}


def test_a_schema_1_file_gets_read_capacitys_error(tmp_path):
    (tmp_path / "capacity.json").write_text(json.dumps({"capacity_schema": 1, "curves": []}))
    with pytest.raises(ResultsError, match="capacity_schema 1, expected 2"):
        load_results([tmp_path])
    with pytest.raises(ResultsError, match="re-run the capacity search"):
        load_capacity(tmp_path)


def test_words_for_quotas_and_limits():
    assert quota_text(0.2) == "0.2 of a core" and quota_text(1.0) == "a whole core"
    assert quota_text(math.nan) == "a whole core"
    assert [limit_words(x) for x in ("latency", "utilization", "connections", "memory", "")] == [
        "CPU",
        "CPU",
        "connections",
        "memory",
        "",
    ]
