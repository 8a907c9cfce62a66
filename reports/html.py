"""The HTML report: one self-contained page, readable offline.

Charts are embedded as base64 PNG data so the file can be mailed or attached to a CI run on its own; each
chart also links its SVG next to the report (``charts/NAME.svg``) for a sharper copy. The stylesheet is
inline and there are no scripts, fonts or other external assets.
"""

from __future__ import annotations

import base64
import re
from html import escape
from pathlib import Path

from reports.charts import Chart
from reports.contents import ReportContents, Table, disagreements, display_tables, knee_status, run_lines
from reports.findings import Finding
from reports.planning import workload_label
from reports.storm import STORM_TITLE, storm_notes

__all__ = ["render_html"]

_CSS = """
:root { --ink: #1d2330; --muted: #5b6475; --line: #d9dee7; --bad: #b3261e; --good: #1b6e3a; --bg: #f7f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: var(--bg); }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 64px; background: #fff; min-height: 100vh; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.sub { color: var(--muted); margin: 0 0 16px; }
.card { border: 1px solid var(--line); border-left: 4px solid var(--muted); border-radius: 6px;
        padding: 10px 14px; margin: 10px 0; background: #fff; }
.card.holds, .card.recommended { border-left-color: var(--good); }
.card.does-not-hold, .card.problem { border-left-color: var(--bad); }
.verdict { font-weight: 600; text-transform: uppercase; font-size: 12px; letter-spacing: .04em; }
.holds .verdict, .recommended .verdict { color: var(--good); }
.does-not-hold .verdict, .problem .verdict { color: var(--bad); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }
caption { text-align: left; color: var(--muted); padding: 4px 0 8px; font-style: italic; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { background: var(--bg); white-space: normal; vertical-align: bottom; }
th.text, td.text, td.wrap { text-align: left; }
td.wrap { white-space: normal; text-align: left; min-width: 220px; }
tr.flag td { background: #fdecea; }
figure { margin: 18px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 13px; }
.skipped { color: var(--muted); font-style: italic; }
ul.runs { padding-left: 20px; }
code { background: var(--bg); padding: 1px 4px; border-radius: 3px; }
"""


def _finding(f: Finding) -> str:
    klass = f.verdict.replace(" ", "-")
    return (
        f'<div class="card {escape(klass)}"><div class="verdict">{escape(f.verdict)}</div>'
        f"<strong>{escape(f.title)}</strong><br>{escape(f.text)}</div>"
    )


_NUMBER = re.compile(r"^[-–±∞0-9.,]+( [kMGT])?[%×]?$")


def _cell_class(text: str, last: bool) -> str:
    """Numbers align right; words align left, and a long last cell (a basis, a verdict) wraps."""
    if _NUMBER.match(text):
        return "num"
    return "wrap" if last and len(text) > 30 else "text"


def _table(table: Table) -> str:
    first = table.rows[0] if table.rows else [""] * len(table.columns)
    head = "".join(
        f'<th class="{"num" if _NUMBER.match(cell) else "text"}">{escape(c)}</th>'
        for c, cell in zip(table.columns, first, strict=True)
    )
    body = []
    last = len(table.columns) - 1
    for row, flag in zip(table.rows, table.flagged, strict=True):
        cells = "".join(
            f'<td class="{_cell_class(c, i == last)}">{escape(c)}</td>' for i, c in enumerate(row)
        )
        body.append(f'<tr class="flag">{cells}</tr>' if flag else f"<tr>{cells}</tr>")
    return (
        f'<div class="scroll"><table><caption>{escape(table.caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _figure(chart: Chart, report_dir: Path) -> str:
    if chart.png is None:
        return f'<h3>{escape(chart.title)}</h3><p class="skipped">{escape(chart.note)}</p>'
    data = base64.b64encode(chart.png.read_bytes()).decode("ascii")
    link = ""
    if chart.svg is not None and chart.svg.is_relative_to(report_dir):
        rel = chart.svg.relative_to(report_dir).as_posix()
        link = f' · <a href="{escape(rel)}">SVG</a>'
    return (
        f"<figure><h3>{escape(chart.title)}</h3>"
        f'<img alt="{escape(chart.title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{escape(chart.note)}{link}</figcaption></figure>"
    )


def _runs(contents: ReportContents) -> str:
    items = []
    for label, text in run_lines(contents):
        items.append(f"<li><code>{escape(label)}</code>: {escape(text)}</li>")
    return f'<ul class="runs">{"".join(items)}</ul>'


def _agreement(contents: ReportContents, tables: dict[str, Table]) -> list[str]:
    if "agreement" not in tables:
        return []
    out = ["<h2>Simulated versus measured</h2>"]
    problems = disagreements(contents)
    if problems:
        items = "".join(f"<li>{escape(p)}</li>" for p in problems)
        out.append(
            '<div class="card problem"><div class="verdict">disagreement</div>'
            f"<strong>The simulation and the measurement disagree:</strong><ul>{items}</ul></div>"
        )
    else:
        out.append(
            '<div class="card holds"><div class="verdict">agrees</div>'
            "Every compared figure is within its bar.</div>"
        )
    out.append(_table(tables["agreement"]))
    return out


def _storm(contents: ReportContents, tables: dict[str, Table]) -> list[str]:
    if "storm" not in tables:
        return []
    notes = storm_notes(contents.results)
    items = "".join(f"<li>{escape(n)}</li>" for n in notes[1:])
    intro = f"<p>{escape(notes[0])}</p><ul>{items}</ul>"
    return [f"<h2>{escape(STORM_TITLE)}</h2>", intro, _table(tables["storm"])]


def render_html(contents: ReportContents, *, report_dir: str | Path) -> str:
    """The whole report as one HTML document; SVG links are relative to `report_dir`."""
    base = Path(report_dir)
    tables = display_tables(contents)
    sources = " and ".join(contents.results.sources) or "no"
    label = escape(workload_label(contents.workload))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>pollbench report</title><style>{_CSS}</style></head><body><main>",
        "<h1>pollbench report</h1>",
        f'<p class="sub">Live-update strategies compared from {escape(sources)} results; planning '
        f"workload <strong>{label}</strong>.</p>",
        _runs(contents),
        "<h2>Recommendation</h2>",
        _finding(contents.recommendation),
        f"<h2>The seed's claims, judged on {label}</h2>",
        *[_finding(c) for c in contents.claims],
        *_agreement(contents, tables),
        f"<h2>Capacity plan for {label}</h2>",
        f"<p>{escape(knee_status(contents))}</p>",
        _table(tables["basis"]),
        _table(tables["plan"]),
        *_storm(contents, tables),
        "<h2>Figures per strategy</h2>",
        _table(tables["metrics"]),
        "<h2>Charts</h2>",
        *[_figure(c, base) for c in contents.charts],
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"
