"""Shared fixture results: a simulated and a measured run of the same scenario, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports.build import ReportFiles, build_report
from tests.reports.fixtures import make_comparison


@pytest.fixture(scope="session")
def results_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A comparison's directory: out/sim and out/measured (the agreement load), out/plan (seed-chat) and
    out/knees/{measured,sim}, like 'pollbench compare --knees' writes."""
    return make_comparison(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="session")
def built_report(results_root: Path, tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    """The report of both runs, built once."""
    return build_report([results_root], tmp_path_factory.mktemp("report"))
