"""A real measured capacity search: steps of clients against a real server, stopped by the SLO."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pollbench.cli import main


@pytest.fixture(scope="module")
def capacity(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("capacity")
    code = main(
        [
            "capacity", "--mode", "measure", "--strategies", "sse,poll:1", "--step-users", "10",
            "--step-seconds", "7s", "--max-steps", "2", "--slo-p99", "0.5", "--message-interval", "2s",
            "--users", "1000", "--out", str(out), "--json",
        ]
    )  # fmt: skip
    assert code == 0
    data: dict[str, Any] = json.loads((Path(out) / "capacity.json").read_text())
    return data


def test_push_passes_every_step_and_reports_the_search_ceiling(capacity: dict[str, Any]) -> None:
    sse = capacity["strategies"][0]
    assert sse["strategy"] == "sse"
    assert [s["users"] for s in sse["steps"]] == [10, 20]
    assert all(s["ok"] and s["messages"] > 20 for s in sse["steps"])
    assert sse["max_clients"] == 20 and sse["ceiling"] and sse["servers_for_users"] == 50


def test_polling_every_second_breaks_a_half_second_p99_at_the_first_step(capacity: dict[str, Any]) -> None:
    poll = capacity["strategies"][1]
    assert len(poll["steps"]) == 1
    assert poll["max_clients"] == 0 and not poll["ceiling"]
    assert poll["limited_by"][0].startswith("p99 ")
    assert 0.5 < poll["steps"][0]["p99_s"] < 2.0


def test_measure_mode_needs_strategies(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capacity", "--mode", "measure"]) == 2
    assert "--mode measure needs --strategies" in capsys.readouterr().err


def test_steps_too_short_for_the_strategy_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capacity", "--mode", "measure", "--strategies", "poll:10", "--step-seconds", "5s"]) == 2
    assert "too short for poll:10" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--slo-p99", "-1"], "--slo-p99 must be a positive number"),
        (["--slo-p99", "nan"], "--slo-p99 must be a positive number"),
        (["--max-fail-ratio", "1.5"], "--max-fail-ratio must be within 0..1"),
        (["--slo-utilization", "0"], "--slo-utilization within (0, 1]"),
    ],
)
def test_impossible_slo_bounds_are_refused_before_any_load(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["capacity", "--mode", "measure", "--strategies", "sse", "--out", str(tmp_path), *flags]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "server").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--host", "http://10.1.2.3:8080", "--fixtures", "f.json"], "refusing to load 10.1.2.3"),
        (["--host", "http://127.0.0.1:8080"], "--host needs --fixtures"),
    ],
)
def test_a_target_outside_loopback_or_without_fixtures_is_refused(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["capacity", "--mode", "measure", "--strategies", "sse", "--out", str(tmp_path), *flags]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_search_runs_against_a_server_given_by_host(tmp_path: Path) -> None:
    from loadtests.server_process import ServerOptions, ServerProcess

    options = ServerOptions(customers=10, orders_per_customer=1, admins=1, workdir=tmp_path / "srv")
    with ServerProcess(options) as server:
        argv = [
            "capacity", "--mode", "measure", "--strategies", "sse", "--step-users", "10", "--step-seconds",
            "7s", "--max-steps", "1", "--message-interval", "1s", "--host", server.base_url, "--fixtures",
            str(server.fixtures), "--out", str(tmp_path / "out"), "--json",
        ]  # fmt: skip
        assert main(argv) == 0
    data = json.loads((tmp_path / "out" / "capacity.json").read_text())
    (row,) = data["strategies"]
    assert row["steps"][0]["users"] == 10 and row["max_clients"] == 10
    assert not (tmp_path / "out" / "server").exists()  # no server of its own was started


def test_host_fixtures_with_too_few_customers_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fixtures = tmp_path / "f.json"
    fixtures.write_text('{"base_url": "http://127.0.0.1:9", "customers": [{"id": "c1", "name": "C", '
                        '"token": "t", "orders": ["o1"]}], "admins": []}')  # fmt: skip
    argv = [
        "capacity", "--mode", "measure", "--strategies", "sse", "--step-users", "10", "--step-seconds", "7s",
        "--max-steps", "1", "--host", "http://127.0.0.1:9", "--fixtures", str(fixtures),
        "--out", str(tmp_path),
    ]  # fmt: skip
    assert main(argv) == 2
    assert "1 customers for 10 users" in capsys.readouterr().err
