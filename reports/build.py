"""Building a report directory from results directories.

``build_report`` loads the runs, draws the charts into ``OUT/charts/``, and writes ``OUT/report.html`` (self
contained) and ``OUT/report.md`` (links the charts). It is what ``pollbench report`` and ``pollbench compare``
call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reports.contents import ReportContents, collect
from reports.findings import RecommendConfig
from reports.html import render_html
from reports.load import load_results
from reports.markdown import render_markdown

__all__ = ["ReportFiles", "build_report"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportFiles:
    """What a report build wrote, and what it found."""

    html: Path
    """The self-contained HTML report."""
    markdown: Path
    """The Markdown summary."""
    charts: list[Path]
    """Every chart file written (PNG and SVG)."""
    contents: ReportContents
    """The findings and tables behind the files."""


def build_report(
    results_dirs: Sequence[str | Path], out: str | Path, config: RecommendConfig | None = None
) -> ReportFiles:
    """Load `results_dirs`, write the report into `out` (created if needed) and return what was written."""
    results = load_results(results_dirs)
    target = Path(out).resolve()
    target.mkdir(parents=True, exist_ok=True)
    contents = collect(results, target / "charts", config)
    html = target / "report.html"
    md = target / "report.md"
    html.write_text(render_html(contents, report_dir=target), encoding="utf-8")
    md.write_text(render_markdown(contents, report_dir=target), encoding="utf-8")
    files = [p for c in contents.charts for p in (c.png, c.svg) if p is not None]
    return ReportFiles(html=html, markdown=md, charts=files, contents=contents)
