"""The Markdown summary: the report's findings and tables as text a pull request or wiki page can show.

Charts are linked by path relative to the report (``charts/latency_cdf.png``), so the summary reads right
when it sits next to its ``charts/`` folder.
"""

from __future__ import annotations

from pathlib import Path

from reports.contents import ReportContents, Table, disagreements, display_tables, knee_status, run_lines
from reports.planning import workload_label
from reports.storm import STORM_TITLE, storm_notes

__all__ = ["markdown_table", "render_markdown"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> str:
    """A GitHub-flavoured pipe table, caption above; flagged rows marked with ⚠."""
    head = "| " + " | ".join(_cell(c) for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = [
        "| " + " | ".join(_cell(("⚠ " if flag and i == 0 else "") + c) for i, c in enumerate(row)) + " |"
        for row, flag in zip(table.rows, table.flagged, strict=True)
    ]
    return "\n".join([f"*{table.caption}*", "", head, rule, *body])


def render_markdown(contents: ReportContents, *, report_dir: str | Path) -> str:
    """The whole summary as Markdown; chart links are relative to `report_dir`."""
    base = Path(report_dir)
    tables = display_tables(contents)
    rec = contents.recommendation
    label = workload_label(contents.workload)
    out = ["# pollbench report", "", f"Planning workload: **{label}**.", "", "## Runs", ""]
    out += [f"- `{label}`: {text}" for label, text in run_lines(contents)]
    out += ["", f"## {rec.title}", "", f"**{rec.verdict}** — {rec.text}", ""]
    out += [f"## The seed's claims, judged on {label}", ""]
    out += [f"- {c.title}: **{c.verdict}**. {c.text}" for c in contents.claims]
    out.append("")
    if "agreement" in tables:
        problems = disagreements(contents)
        out += ["## Simulated versus measured", ""]
        if problems:
            out += ["**The simulation and the measurement disagree:**", "", *[f"- {p}" for p in problems], ""]
        else:
            out += ["Every compared figure is within its bar.", ""]
        out += [markdown_table(tables["agreement"]), ""]
    out += [f"## Capacity plan for {label}", "", knee_status(contents), ""]
    out += [markdown_table(tables["basis"]), "", markdown_table(tables["plan"]), ""]
    if "storm" in tables:
        notes = storm_notes(contents.results)
        out += [f"## {STORM_TITLE}", "", notes[0], "", *[f"- {n}" for n in notes[1:]], ""]
        out += [markdown_table(tables["storm"]), ""]
    out += ["## Figures per strategy", "", markdown_table(tables["metrics"]), ""]
    out += ["## Charts", ""]
    for chart in contents.charts:
        if chart.png is None:
            out += [f"- {chart.title}: {chart.note}"]
        else:
            rel = chart.png.relative_to(base) if chart.png.is_relative_to(base) else chart.png
            out += [
                f"- {chart.title}: ![{chart.title}]({rel.as_posix()})"
                + (f" — {chart.note}" if chart.note else "")
            ]
    return "\n".join(out) + "\n"
