"""pollbench compare's knee step: a real measured knee under a CPU quota, each probe simulated beside it,
and simulated knees at the quota and on a whole core, all in the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pollbench.capacity import read_capacity
from pollbench.cli import main
from tests.cgroups import needs_cpu_controller


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """poll:1 at 0.02 of a core saturates at a few dozen clients: a whole knee search in about a minute."""
    out = tmp_path_factory.mktemp("compare-knees")
    calibration = out.parent / "cal.json"
    calibration.write_text('{"meta": {"noop_us": 40.0}}')
    argv = ["compare", "--quick", "--strategies", "poll:1", "--users", "5", "--duration", "3s",
            "--message-interval", "1s", "--calibration", str(calibration), "--knees", "poll:1",
            "--server-cpu-quota", "0.02", "--knee-window", "2s", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    return out


@needs_cpu_controller
def test_the_measured_knee_ran_under_the_quota_with_every_probe_simulated(compared: Path) -> None:
    report = read_capacity(compared / "knees" / "measured")
    assert report.workload == "seed-chat" and report.source == "measured"
    (knee,) = report.knees
    assert knee.strategy == "poll:1" and knee.server_cpu_quota == 0.02
    assert 0 < knee.max_clients < 200 and not knee.ceiling
    assert knee.limited_by and all("sim" in s.detail for s in knee.steps)
    assert knee.scaled_to_full_core and knee.full_core_clients == int(knee.max_clients / 0.02)


@needs_cpu_controller
def test_simulated_knees_at_the_quota_and_on_a_whole_core(compared: Path) -> None:
    knees = read_capacity(compared / "knees" / "sim").knees
    assert [(k.strategy, k.server_cpu_quota) for k in knees] == [("poll:1", 0.02), ("poll:1", None)]
    assert knees[1].max_clients > knees[0].max_clients


@needs_cpu_controller
def test_the_report_plans_from_the_knees(compared: Path) -> None:
    combined = json.loads((compared / "summary.json").read_text())
    assert combined["knees"]
    assert "measured at Q = 0.02, scaled to a whole core" in (compared / "report.md").read_text()


def test_knees_are_refused_with_a_host(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fixtures = tmp_path / "f.json"
    fixtures.write_text("{}")
    argv = ["compare", "--host", "http://127.0.0.1:9", "--fixtures", str(fixtures), "--knees", "sse",
            "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(argv) == 2
    assert "--knees searches servers pollbench starts itself" in capsys.readouterr().err


def test_an_unknown_knee_strategy_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--knees", "carrier-pigeon", "--out", str(tmp_path / "out")]) == 2
    assert "--knees: unknown strategy" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
