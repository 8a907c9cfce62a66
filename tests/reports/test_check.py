"""reports.check: the regression gate's comparisons and tolerances."""

import pytest

from pollbench.results import ResultsError
from reports.baseline import baseline_from_results, read_baseline
from reports.check import check_results, parse_tolerances
from reports.load import load_results
from tests.reports.fixtures import make_results

_FEW = ("poll:3", "sse")


def _check(tmp_path, base_kw, new_kw, tolerances=None):
    make_results(tmp_path / "base", strategies=_FEW, deliveries=400, **base_kw)
    make_results(tmp_path / "new", strategies=_FEW, deliveries=400, **new_kw)
    baseline = baseline_from_results(load_results([tmp_path / "base"]))
    return check_results(baseline, load_results([tmp_path / "new"]), tolerances)


def _status(report, strategy, metric):
    return next(c for c in report.checks if c.strategy == strategy and c.metric == metric)


def test_identical_results_pass(tmp_path):
    report = _check(tmp_path, {}, {})
    assert report.passed
    assert {c.status for c in report.checks} <= {"ok", "skipped"}


def test_a_20_percent_latency_regression_of_a_seeded_simulation_fails(tmp_path):
    report = _check(tmp_path, {}, {"latency_scale": 1.2})
    assert not report.passed
    p95 = _status(report, "poll:3", "latency_s.p95")
    assert p95.status == "changed" and p95.kind == "deterministic"
    assert p95.change == pytest.approx(0.2)


def test_a_bytes_per_poll_change_of_a_measured_run_fails(tmp_path):
    report = _check(
        tmp_path, {"source": "measured"}, {"source": "measured", "scale": {"bytes_per_poll": 1.03}}
    )
    check = _status(report, "poll:3", "bytes_per_poll")
    assert check.failed and check.kind == "deterministic"


def test_measured_latency_is_judged_after_calibration(tmp_path):
    # the runner is 20 % slower: calibration and latency both grow 20 %, so nothing regressed
    report = _check(
        tmp_path,
        {"source": "measured", "calibration_s": 1.0},
        {"source": "measured", "calibration_s": 1.2, "latency_scale": 1.2},
    )
    check = _status(report, "poll:3", "latency_s.p95")
    assert check.normalised and check.status == "ok" and check.change == pytest.approx(0.0, abs=1e-12)


def test_measured_latency_20_percent_worse_on_an_equal_runner_fails(tmp_path):
    report = _check(
        tmp_path,
        {"source": "measured", "calibration_s": 1.0},
        {"source": "measured", "calibration_s": 1.0, "latency_scale": 1.2},
    )
    assert _status(report, "sse", "latency_s.p50").status == "regressed"


def test_uncalibrated_measured_latency_gets_the_generous_raw_tolerance(tmp_path):
    report = _check(tmp_path, {"source": "measured"}, {"source": "measured", "latency_scale": 1.2})
    check = _status(report, "poll:3", "latency_s.p95")
    assert check.kind == "raw-timing" and check.tolerance == 0.30 and check.status == "ok"


def test_a_large_improvement_passes_but_is_reported(tmp_path):
    report = _check(tmp_path, {"source": "measured"}, {"source": "measured", "latency_scale": 0.5})
    assert report.passed
    assert _status(report, "poll:3", "latency_s.p95").status == "improved"


def test_a_strategy_missing_from_the_results_fails(tmp_path):
    make_results(tmp_path / "base", strategies=_FEW, deliveries=50)
    make_results(tmp_path / "new", strategies=("sse",), deliveries=50)
    report = check_results(read_baseline(tmp_path / "base"), load_results([tmp_path / "new"]))
    missing = [(c.strategy, c.metric) for c in report.failures if c.status == "missing"]
    assert missing == [("poll:3", "present")]


def test_results_of_another_source_cannot_be_compared(tmp_path):
    with pytest.raises(ResultsError, match="nothing to compare"):
        _check(tmp_path, {"source": "sim"}, {"source": "measured"})


def test_tolerance_flags_set_kinds_and_metrics():
    tol = parse_tolerances(["0.4", "deterministic=0.02", "latency_s.p99=1"])
    assert tol.of("latency_s.p95", "timing") == 0.4
    assert tol.of("bytes_per_poll", "deterministic") == 0.02
    assert tol.of("latency_s.p99", "timing") == 1.0


@pytest.mark.parametrize("item", ["fast", "speed=0.1", "timing=-1"])
def test_bad_tolerance_is_a_results_error(item):
    with pytest.raises(ResultsError, match="--tolerance"):
        parse_tolerances([item])
