"""reports.check_output: JUnit XML, Markdown and the terminal table of a check."""

import io
import xml.etree.ElementTree as ET

from rich.console import Console

from reports.baseline import baseline_from_results
from reports.check import CHECKED_METRICS, check_results
from reports.check_output import print_check, render_junit, render_markdown_check
from reports.load import load_results
from tests.reports.fixtures import make_results


def _regressed(tmp_path):
    make_results(tmp_path / "base", strategies=("poll:3", "sse"), deliveries=100)
    make_results(tmp_path / "new", strategies=("poll:3", "sse"), deliveries=100, latency_scale=1.2)
    baseline = baseline_from_results(load_results([tmp_path / "base"]))
    return check_results(baseline, load_results([tmp_path / "new"]))


def test_junit_has_one_testcase_per_strategy_and_metric_and_a_failure_per_regression(tmp_path):
    report = _regressed(tmp_path)
    root = ET.fromstring(render_junit(report))
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 2 * len(CHECKED_METRICS) == int(suite.get("tests"))
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == len(report.failures) == int(suite.get("failures"))
    p95 = next(
        c for c in cases if c.get("classname") == "pollbench.sim.poll:3" and c.get("name") == "latency_s.p95"
    )
    assert "+20.0%" in p95.find("failure").get("message")


def test_markdown_says_fail_and_lists_what_moved(tmp_path):
    md = render_markdown_check(_regressed(tmp_path))
    assert md.startswith("## pollbench check: FAIL")
    assert "| sim | poll:3 | latency_s.p95 |" in md and "❌ changed" in md


def test_terminal_table_shows_what_moved_and_the_verdict(tmp_path):
    out = io.StringIO()
    print_check(_regressed(tmp_path), Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert "what moved" in text and "latency_s.p95" in text and "+20.0%" in text
    assert "FAIL:" in text
