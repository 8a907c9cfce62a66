"""pollbench check, run in-process through pollbench.cli.main: exit codes and output files."""

import xml.etree.ElementTree as ET

import pytest

from pollbench.cli import main
from tests.reports.fixtures import make_results

_FEW = ("poll:3", "sse")


@pytest.fixture
def baseline(tmp_path):
    make_results(tmp_path / "base", strategies=_FEW, deliveries=300)
    path = tmp_path / "baseline.json"
    assert (
        main(["check", "--baseline", str(path), "--results", str(tmp_path / "base"), "--update-baseline"])
        == 0
    )
    return path


def _check(baseline, results, *extra):
    return main(["check", "--baseline", str(baseline), "--results", str(results), *extra])


def test_update_baseline_writes_a_baseline_file(baseline, capsys):
    assert baseline.is_file() and '"pollbench_baseline": 1' in baseline.read_text()


def test_identical_results_exit_0(baseline, tmp_path, capsys):
    assert _check(baseline, tmp_path / "base") == 0
    assert "PASS" in capsys.readouterr().out


def test_latency_regression_exits_1_with_junit_and_markdown(baseline, tmp_path, capsys):
    make_results(tmp_path / "new", strategies=_FEW, deliveries=300, latency_scale=1.2)
    junit, md = tmp_path / "ci" / "check.xml", tmp_path / "ci" / "check.md"
    assert _check(baseline, tmp_path / "new", "--junit", str(junit), "--markdown", str(md)) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "latency_s.p95" in out
    suite = ET.parse(junit).getroot().find("testsuite")
    assert int(suite.get("failures")) > 0
    assert md.read_text().startswith("## pollbench check: FAIL")


def test_bytes_per_poll_change_exits_1(baseline, tmp_path):
    make_results(tmp_path / "new", strategies=_FEW, deliveries=300, scale={"bytes_per_poll": 1.02})
    assert _check(baseline, tmp_path / "new") == 1


def test_a_loose_tolerance_lets_a_noisy_measured_run_pass(tmp_path):
    make_results(tmp_path / "base", source="measured", strategies=_FEW, deliveries=100)
    make_results(tmp_path / "new", source="measured", strategies=_FEW, deliveries=100, latency_scale=1.2)
    summary = tmp_path / "base" / "summary.json"
    assert _check(summary, tmp_path / "new", "--tolerance", "0.1") == 1
    assert _check(summary, tmp_path / "new", "--tolerance", "0.5") == 0


def test_missing_results_directory_exits_2(baseline, tmp_path, capsys):
    assert _check(baseline, tmp_path / "nope") == 2
    assert "pollbench check: error:" in capsys.readouterr().err


def test_missing_baseline_exits_2_and_says_how_to_create_one(tmp_path, capsys):
    make_results(tmp_path / "r", strategies=("sse",), deliveries=10)
    assert _check(tmp_path / "none.json", tmp_path / "r") == 2
    assert "--update-baseline" in capsys.readouterr().err


def test_a_baseline_that_is_not_a_summary_exits_2(tmp_path, capsys):
    make_results(tmp_path / "r", strategies=("sse",), deliveries=10)
    (tmp_path / "b.json").write_text("[1, 2]")
    assert _check(tmp_path / "b.json", tmp_path / "r") == 2
    assert "neither a pollbench baseline nor a summary.json" in capsys.readouterr().err


def test_bad_tolerance_exits_2(baseline, tmp_path, capsys):
    assert _check(baseline, tmp_path / "base", "--tolerance", "loose") == 2
    assert "the tolerance must be a number" in capsys.readouterr().err
