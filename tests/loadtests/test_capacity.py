"""A real measured knee search: one Locust run steered probe by probe against a real server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pollbench.capacity import read_capacity
from pollbench.cli import main

QUICK = ["--window", "3s", "--settle", "1s", "--message-interval", "2s", "--min-message-rate", "5"]


@pytest.fixture(scope="module")
def search(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """sse passes up to its ceiling; poll:1 breaks a 0.5 s p99 at every count, stepping down to 1 client."""
    out = tmp_path_factory.mktemp("knee")
    argv = [
        "capacity",
        "--mode",
        "measure",
        "--strategies",
        "sse,poll:1",
        "--start-clients",
        "4",
        "--max-clients",
        "8",
        "--slo-p99",
        "0.5",
        "--users",
        "1000",
        "--out",
        str(out),
        "--json",
        *QUICK,
    ]
    assert main(argv) == 0
    return out, json.loads((out / "capacity.json").read_text())


def test_push_passes_every_probe_up_to_the_ceiling(search: tuple[Path, dict[str, Any]]) -> None:
    out, data = search
    sse = read_capacity(out).knee("sse")
    assert sse is not None
    assert [s.clients for s in sse.steps] == [4, 8]
    assert all(s.ok and s.messages >= 10 for s in sse.steps)
    assert sse.max_clients == 8 and sse.ceiling and sse.limited_by == ()
    # every probe held its clients' streams open: one connection each, plus the senders'
    assert all(s.clients <= s.open_connections <= s.clients + 4 for s in sse.steps)
    assert data["capacity_schema"] == 2 and data["source"] == "measured"


def test_polling_every_second_breaks_a_half_second_p99_down_to_one_client(
    search: tuple[Path, dict[str, Any]],
) -> None:
    out, _ = search
    poll = read_capacity(out).knee("poll:1")
    assert poll is not None
    assert [s.clients for s in poll.steps] == [4, 2, 1]
    assert poll.max_clients == 0 and not poll.ceiling and poll.limited_by == ("latency",)
    assert all(0.5 < s.p99_s < 2.5 for s in poll.steps)
    # going down, the server's connections went down with the clients
    conns = [s.open_connections for s in poll.steps]
    assert conns == sorted(conns, reverse=True) and conns[0] > conns[-1]


def test_measure_mode_needs_strategies(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capacity", "--mode", "measure"]) == 2
    assert "--mode measure needs --strategies" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--slo-p99", "-1"], "p99 SLO must be a positive number"),
        (["--max-fail-ratio", "1.5"], "failure-ratio SLO must be within 0..1"),
        (["--slo-utilization", "0"], "utilization SLO must be in (0, 1]"),
        (["--tolerance", "1"], "--tolerance must be between 0 and 1"),
        (["--start-clients", "50", "--max-clients", "10"], "--start-clients must not exceed --max-clients"),
        (["--max-clients", "0"], "--max-clients must be at least 1"),
        (["--processes", "0"], "--processes at least 1"),
    ],
)
def test_impossible_bounds_are_refused_before_any_load(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["capacity", "--mode", "measure", "--strategies", "sse", "--out", str(tmp_path), *flags]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "template").exists()


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
        argv = ["capacity", "--mode", "measure", "--strategies", "sse", "--start-clients", "5",
                "--max-clients", "5", "--host", server.base_url, "--fixtures", str(server.fixtures),
                "--out", str(tmp_path / "out"), *QUICK]  # fmt: skip
        assert main(argv) == 0
    knee = read_capacity(tmp_path / "out").knees[0]
    assert [s.clients for s in knee.steps] == [5] and knee.max_clients == 5
    assert not (tmp_path / "out" / "template").exists()  # no server of its own was seeded


def test_host_fixtures_with_too_few_customers_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fixtures = tmp_path / "f.json"
    fixtures.write_text('{"base_url": "http://127.0.0.1:9", "customers": [{"id": "c1", "name": "C", '
                        '"token": "t", "orders": ["o1"]}], "admins": []}')  # fmt: skip
    argv = ["capacity", "--mode", "measure", "--strategies", "sse", "--max-clients", "10", "--host",
            "http://127.0.0.1:9", "--fixtures", str(fixtures), "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 2
    assert "1 customers for a search up to 10 clients" in capsys.readouterr().err
