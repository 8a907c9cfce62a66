"""``pollbench loadtest`` on the command line: bad input exits 2 with a sentence, thresholds exit 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pollbench.cli import main
from pollbench.results import read_summary
from tests.cgroups import needs_cpu_controller


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--host", "http://10.0.0.5:8080", "--fixtures", "f.json"], "refusing to load 10.0.0.5"),
        (["--host", "http://example.com:80", "--fixtures", "f.json"], "refusing to load example.com"),
        (["--host", "ftp://127.0.0.1:21", "--fixtures", "f.json"], "--host must look like"),
        (["--host", "http://127.0.0.1:8080"], "--host needs --fixtures"),
        (["--strategies", "poll:fast"], "interval must be a number"),
        (["--users", "0"], "--users must be at least 1"),
        (["--duration", "soon"], "duration must be"),
        (["--message-interval", "0"], "--message-interval: duration must be positive"),
        (["--drain", "later"], "--drain: duration must be"),
        (["--admin-panels", "-3"], "--admin-panels must be zero or more"),
        (["--master", "--master-port", "70000"], "--master-port must be 1..65535"),
        (["--check-fail-ratio", "2"], "between 0 and 1"),
        (["--check-p99-delivery", "-1"], "must be a positive number"),
        (["--host", "http://127.0.0.1:9", "--fixtures", "/nonexistent/f.json"], "fixtures file not found"),
        (["--server-cpu-quota", "0"], "--server-cpu-quota must be a share of one core, 0 < Q <= 1"),
        (["--server-cpu-quota", "1.5"], "0 < Q <= 1 (e.g. 0.2), got 1.5"),
        (["--server-cpu-quota", "abc"], "0 < Q <= 1 (e.g. 0.2), got 'abc'"),
        (
            ["--host", "http://127.0.0.1:9", "--fixtures", "f.json", "--server-cpu-quota", "0.5"],
            "--server-cpu-quota applies only to servers pollbench starts itself",
        ),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["loadtest", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_fixtures_with_too_few_customers_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fixtures = tmp_path / "f.json"
    fixtures.write_text('{"base_url": "http://127.0.0.1:9", "customers": [{"id": "c1", "name": "C", '
                        '"token": "t", "orders": ["o1"]}], "admins": []}')  # fmt: skip
    argv = ["loadtest", "--host", "http://127.0.0.1:9", "--fixtures", str(fixtures), "--users", "5"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert "1 customers for 5 users" in capsys.readouterr().err


def test_broken_threshold_exits_1_in_a_real_two_process_run(tmp_path: Path) -> None:
    """A real subprocess run: Locust with two worker processes whose raw records are merged."""
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "pollbench", "loadtest", "--strategies", "sse", "--users", "10",
        "--duration", "4s", "--message-interval", "1s", "--processes", "2", "--out", str(out),
        "--check-p99-delivery", "0.000001",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "threshold failed: sse: p99 delivery latency" in proc.stderr
    result = read_summary(out).strategies["sse"]
    assert result.extra["locust_processes"] == 2
    assert result.messages.delivered == result.messages.sent > 0


def test_a_scenario_files_quota_is_refused_with_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text("server_cpu_quota = 0.2\n")
    argv = ["loadtest", "--scenario", str(scenario), "--host", "http://127.0.0.1:9", "--fixtures", "f.json"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert f"{scenario}: server_cpu_quota applies only to servers pollbench starts" in capsys.readouterr().err


@needs_cpu_controller
def test_a_run_under_a_cpu_quota_records_the_quota_and_its_throttling(tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ["loadtest", "--strategies", "poll:3", "--users", "5", "--duration", "3s",
            "--server-cpu-quota", "0.5", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    summary = read_summary(out)
    assert summary.scenario["server_cpu_quota"] == 0.5
    extra = summary.strategies["poll:3"].extra
    assert extra["cpu_quota"]["share"] == extra["server"]["cpu_quota"] == 0.5
    assert extra["cpu_quota"]["quota_us"] == 50_000 and extra["cpu_quota"]["nr_periods"] > 0
    assert {"nr_throttled", "throttled_s", "cgroup"} <= set(extra["cpu_quota"])
