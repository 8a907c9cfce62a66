"""reports.capacity: the capacity.json schema and the clients one process holds."""

import pandas as pd
import pytest

from pollbench.results import ResultsError
from reports.capacity import max_clients_per_process, read_capacity, write_capacity


def _steps(oks, processes=1):
    return pd.DataFrame(
        {"clients": [100 * (i + 1) for i in range(len(oks))], "ok": oks, "server_processes": processes}
    )


def test_capacity_file_round_trips(tmp_path):
    curve = {
        "strategy": "sse",
        "slo_p99_s": 2.0,
        "steps": [{"clients": 10, "p99_s": 0.1, "utilization": 0.1, "fail_ratio": 0.0, "ok": True}],
    }
    write_capacity(tmp_path, [curve])
    table = read_capacity(tmp_path, run="r", default_source="sim")
    assert table.iloc[0].to_dict() == {
        "run": "r",
        "source": "sim",
        "strategy": "sse",
        "server_processes": 1,
        "slo_p99_s": 2.0,
        "clients": 10,
        "p99_s": 0.1,
        "utilization": 0.1,
        "fail_ratio": 0.0,
        "ok": True,
    }


def test_a_single_curve_object_is_a_valid_file(tmp_path):
    (tmp_path / "capacity.json").write_text(
        '{"strategy": "poll:3", "steps": '
        '[{"clients": 5, "p99_s": 1, "utilization": 0.5, "fail_ratio": 0, "ok": true}]}'
    )
    assert list(read_capacity(tmp_path)["strategy"]) == ["poll:3"]


def test_max_clients_is_the_last_passing_step_before_the_first_failure():
    assert max_clients_per_process(_steps([True, True, False, True])) == 200


def test_max_clients_is_divided_by_server_processes():
    assert max_clients_per_process(_steps([True, True], processes=4)) == 50


def test_max_clients_is_nan_when_the_first_step_fails():
    assert pd.isna(max_clients_per_process(_steps([False, True])))


def test_a_step_without_its_keys_is_a_results_error(tmp_path):
    (tmp_path / "capacity.json").write_text('{"curves": [{"strategy": "sse", "steps": [{"clients": 5}]}]}')
    with pytest.raises(ResultsError, match="lacks p99_s, utilization, fail_ratio, ok"):
        read_capacity(tmp_path)
