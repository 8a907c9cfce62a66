"""reports.build with reports.html and reports.markdown: a self-contained report that says what it found."""

import base64
import re
from html.parser import HTMLParser
from pathlib import Path


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.refs.append(value)


def _refs(html: str) -> list[str]:
    parser = _Refs()
    parser.feed(html)
    return parser.refs


def test_report_writes_html_markdown_and_every_chart_file(built_report):
    assert built_report.html.is_file() and built_report.markdown.is_file()
    assert len(built_report.charts) == 14  # 7 charts x (PNG + SVG)
    assert all(p.is_file() and p.stat().st_size > 1000 for p in built_report.charts)


def test_every_html_reference_resolves_and_nothing_is_external(built_report):
    html = built_report.html.read_text()
    refs = _refs(html)
    assert len([r for r in refs if r.startswith("data:image/png;base64,")]) == 7
    for ref in refs:
        assert not re.match(r"^(https?:)?//", ref), f"external reference {ref}"
        if ref.startswith("data:"):
            assert base64.b64decode(ref.split(",", 1)[1])[:4] == b"\x89PNG"
        else:
            assert (built_report.html.parent / ref).is_file(), ref


def test_every_markdown_image_link_resolves(built_report):
    md = built_report.markdown.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == 7
    assert all((built_report.markdown.parent / link).is_file() for link in links)


def test_report_states_recommendation_claims_and_plan(built_report):
    md = built_report.markdown.read_text()
    assert "## Recommendation for 100,000 users (p95 latency ≤ 3 s)" in md
    assert md.count("“~2 KB per poll per order”") == 1
    for users in ("1,000", "10,000", "100,000", "1,000,000"):
        assert f"| {users} |" in md


def test_a_disagreement_is_stated_plainly(results_root, tmp_path):
    from reports.build import build_report
    from tests.reports.fixtures import make_results

    make_results(tmp_path / "measured", source="measured", seed=1, scale={"requests_per_s": 1.2})
    files = build_report([results_root / "sim", tmp_path / "measured"], tmp_path / "out")
    md = files.markdown.read_text()
    assert "**The simulation and the measurement disagree:**" in md
    assert "poll:3: simulated requests_per_s is" in md and "outside the ±5% bar" in md
    assert "The simulation and the measurement disagree" in files.html.read_text()


def test_report_of_matching_runs_says_they_agree(results_root, tmp_path):
    from reports.build import build_report
    from tests.reports.fixtures import make_results

    make_results(tmp_path / "measured", source="measured", seed=1)
    files = build_report([results_root / "sim", tmp_path / "measured"], Path(tmp_path / "out"))
    assert "Every compared figure is within its bar." in files.markdown.read_text()
