"""pollbench.comparison: what a ComparisonRun hands to calibration and to the agreement load tests."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

import loadtests.calibrate
import loadtests.session
from pollbench.comparison import ComparisonRun
from pollbench.scenario import Scenario
from pollbench.strategies import parse_strategies


def _run(tmp_path: Path, quota: float) -> ComparisonRun:
    return ComparisonRun(
        out=tmp_path, scenario=Scenario(clients=5), profile_users=5, duration_s=3.0,
        message_interval_s=1.0, parallel=1, calibrate_alongside=False, calibration_file=None, host=None,
        fixtures=None, quick=True, sim_duration_s=60.0, console=Console(file=io.StringIO()),
        server_cpu_quota=quota,
    )  # fmt: skip


def test_the_knee_quota_leaves_calibration_and_the_agreement_runs_on_a_whole_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def calibrate(host: str | None, **kwargs: Any) -> Any:
        seen["calibrate"] = kwargs.get("cpu_quota")
        calibration = SimpleNamespace(memory_per_connection_bytes=1024)
        return SimpleNamespace(noop_s=4e-5, calibration=calibration, to_json=lambda: "{}")

    def run_loadtest(config: Any, *args: Any, **kwargs: Any) -> int:
        seen["loadtest"] = config.server_cpu_quota
        return 0

    monkeypatch.setattr(loadtests.calibrate, "calibrate", calibrate)
    monkeypatch.setattr(loadtests.session, "run_loadtest", run_loadtest)
    run = _run(tmp_path, 0.3)
    run._calibrate(show_progress=False)
    run._measure(tuple(parse_strategies("poll:3")))
    assert seen == {"calibrate": None, "loadtest": None}
    assert run.server_cpu_quota == 0.3  # the knees' quota
