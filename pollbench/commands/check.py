"""``pollbench check``: the CI regression gate — compare results with a baseline, exit 1 on a regression."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "compare results with a baseline; exit 1 on a regression (CI gate)"
DESCRIPTION = """\
Compare per-strategy figures of a results directory with a baseline (a baseline file written by
--update-baseline, or any summary.json).

Simulated results at the baseline's seed and bytes per poll are compared tightly (1 %, any direction).
Measured latency and utilization are divided by the run's calibration figure (machine.calibration_s) when
both sides have one (15 %), else compared raw with a generous 30 %. Requests/s, bytes per client and energy
of measured runs: 15 %. Only moves in the bad direction fail; failures must not grow.

Exit codes: 0 within tolerance, 1 a regression (a table shows what moved), 2 bad input.

Examples:
  pollbench check --baseline baseline.json --results out/
  pollbench check --baseline baseline.json --results out/ --tolerance 0.25 --junit check.xml
  pollbench check --baseline baseline.json --results out/ --update-baseline
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", required=True, metavar="FILE", help="baseline JSON or a summary.json")
    parser.add_argument("--results", required=True, metavar="DIR", help="results directory to check")
    parser.add_argument(
        "--tolerance",
        action="append",
        default=[],
        metavar="[KIND=|METRIC=]X",
        help="relative tolerance: a bare number sets timing, raw-timing and rate; KIND is deterministic, "
        "timing, raw-timing or rate; METRIC e.g. latency_s.p95=0.3 (repeatable)",
    )
    parser.add_argument(
        "--junit", metavar="FILE", help="also write JUnit XML (one testcase per strategy x metric)"
    )
    parser.add_argument(
        "--markdown", metavar="FILE", help="also write a Markdown summary (e.g. a PR comment)"
    )
    parser.add_argument(
        "--update-baseline", action="store_true", help="write the results as the new baseline and exit 0"
    )


def _write(path: str, text: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from reports.baseline import baseline_from_results, read_baseline, write_baseline
    from reports.check import check_results, parse_tolerances
    from reports.check_output import print_check, render_junit, render_markdown_check
    from reports.load import load_results

    tolerances = parse_tolerances(args.tolerance)
    results = load_results([args.results])
    # CI logs are not terminals and rich would fold the table to 80 columns there
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
    if args.update_baseline:
        baseline = baseline_from_results(results)
        path = write_baseline(args.baseline, baseline)
        count = sum(len(r.strategies) for r in baseline.runs.values())
        console.print(f"wrote baseline {path}: {count} strategies from {', '.join(baseline.runs)} results")
        return 0
    report = check_results(read_baseline(args.baseline), results, tolerances)
    print_check(report, console)
    if args.junit:
        _write(args.junit, render_junit(report))
    if args.markdown:
        _write(args.markdown, render_markdown_check(report))
    return 0 if report.passed else 1
