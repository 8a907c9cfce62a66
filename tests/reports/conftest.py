"""Shared fixture results: a simulated and a measured run of the same scenario, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports.build import ReportFiles, build_report
from tests.reports.fixtures import make_results


@pytest.fixture(scope="session")
def results_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """out/sim and out/measured (the measured one with a capacity search), like 'pollbench compare' writes."""
    root = tmp_path_factory.mktemp("results")
    make_results(root / "sim", source="sim", seed=1)
    make_results(root / "measured", source="measured", seed=2, capacity=True, calibration_s=1.0)
    return root


@pytest.fixture(scope="session")
def built_report(results_root: Path, tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    """The report of both runs, built once."""
    return build_report([results_root], tmp_path_factory.mktemp("report"))
