"""How a regression check is shown: a terminal table, JUnit XML for CI dashboards, Markdown for PR comments.

JUnit has one testcase per strategy x metric (classname ``pollbench.<source>.<strategy>``, name the metric),
a ``<failure>`` for each regression, and a ``<skipped>`` for figures absent on both sides.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from typing import Any

from reports.check import Check, CheckReport
from reports.numbers import fmt

__all__ = ["describe", "print_check", "render_junit", "render_markdown_check"]


def _pct(change: float) -> str:
    if math.isnan(change):
        return "–"
    if math.isinf(change):
        return "new" if change > 0 else "gone"
    return f"{change:+.1%}"


def describe(check: Check) -> str:
    """One sentence saying what moved and by how much."""
    if check.metric == "present":
        return f"{check.source} {check.strategy}: " + (
            "in the baseline but missing from the results"
            if check.status == "missing"
            else "new (not in the baseline)"
        )
    how = " after calibration" if check.normalised else ""
    return (
        f"{check.source} {check.strategy} {check.metric}: {fmt(check.baseline)} -> {fmt(check.current)} "
        f"({_pct(check.change)}{how}; {check.kind} tolerance ±{check.tolerance:.0%}) — {check.status}"
    )


_SHORT_KIND = {
    "deterministic": "det.",
    "raw-timing": "raw",
    "timing": "timing",
    "rate": "rate",
    "count": "count",
}


def _interesting(report: CheckReport) -> list[Check]:
    """Failures first, then improvements and new strategies worth a baseline refresh."""
    order = {"missing": 0, "changed": 1, "regressed": 2, "improved": 3, "new": 4}
    rows = [c for c in report.checks if c.status in order]
    return sorted(rows, key=lambda c: (order[c.status], c.source, c.strategy, c.metric))


def print_check(report: CheckReport, console: Any) -> None:
    """Print what moved as a rich table, then a one-line verdict, on `console` (a rich Console)."""
    from rich.table import Table

    rows = _interesting(report)
    if rows:
        table = Table(title="pollbench check: what moved")
        for col in ("run", "metric", "baseline", "now", "change", "tolerance", "status"):
            numeric = col in ("baseline", "now", "change")
            table.add_column(col, justify="right" if numeric else "left", overflow="fold")
        for c in rows:
            style = "bold red" if c.failed else "green" if c.status == "improved" else ""
            kind = _SHORT_KIND.get(c.kind, c.kind) + (" cal." if c.normalised else "")
            table.add_row(
                f"{c.source} {c.strategy}",
                c.metric,
                fmt(c.baseline),
                fmt(c.current),
                _pct(c.change),
                f"±{c.tolerance:.0%} {kind}",
                c.status,
                style=style,
            )
        console.print(table)
    compared = sum(1 for c in report.checks if c.status != "skipped")
    if rows:
        console.print(
            "[dim]tolerance kinds: det. = deterministic, timing cal. = divided by calibration_s, "
            "raw = timing without calibration, rate = per-client rates[/dim]"
        )
    for source in report.uncompared_sources:
        console.print(
            f"[yellow]note[/yellow]: the baseline has no {source} figures; {source} results not checked."
        )
    if report.passed:
        console.print(f"[green]PASS[/green]: {compared} figures compared, none regressed.")
    else:
        console.print(
            f"[bold red]FAIL[/bold red]: {len(report.failures)} of {compared} figures regressed or changed."
        )


def render_junit(report: CheckReport) -> str:
    """JUnit XML: one testsuite, one testcase per (source, strategy, metric)."""
    suite = ET.Element(
        "testsuite",
        name="pollbench.check",
        tests=str(len(report.checks)),
        failures=str(len(report.failures)),
        errors="0",
        skipped=str(sum(1 for c in report.checks if c.status == "skipped")),
    )
    for c in report.checks:
        case = ET.SubElement(suite, "testcase", classname=f"pollbench.{c.source}.{c.strategy}", name=c.metric)
        if c.failed:
            ET.SubElement(case, "failure", message=describe(c), type=c.status).text = describe(c)
        elif c.status == "skipped":
            ET.SubElement(case, "skipped", message="no figure in the baseline nor in the results")
        elif c.status in ("improved", "new"):
            ET.SubElement(case, "system-out").text = describe(c)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render_markdown_check(report: CheckReport) -> str:
    """A Markdown verdict and table of what moved, for a pull-request comment or job summary."""
    compared = sum(1 for c in report.checks if c.status != "skipped")
    head = (
        f"## pollbench check: PASS\n\n{compared} figures compared against the baseline; none regressed.\n"
        if report.passed
        else f"## pollbench check: FAIL\n\n{len(report.failures)} of {compared} figures regressed or changed."
        "\n"
    )
    rows = _interesting(report)
    if not rows:
        return head
    lines = [
        "",
        "| source | strategy | metric | baseline | now | change | tolerance | status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in rows:
        mark = "❌ " if c.failed else ""
        lines.append(
            f"| {c.source} | {c.strategy} | {c.metric} | {fmt(c.baseline)} | {fmt(c.current)} "
            f"| {_pct(c.change)} | ±{c.tolerance:.0%} ({c.kind}) | {mark}{c.status} |"
        )
    return head + "\n".join(lines) + "\n"
