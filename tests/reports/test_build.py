"""reports.build with reports.html and reports.markdown: a self-contained report that says what it found."""

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

from pollbench.workload import AGREEMENT_WORKLOAD


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


def test_report_states_recommendation_claims_and_plan_for_the_planning_workload(built_report):
    md = built_report.markdown.read_text()
    assert "## Recommendation for 100,000 users of seed-chat (p95 latency ≤ 3 s)" in md
    assert "## The seed's claims, judged on seed-chat" in md and "## Capacity plan for seed-chat" in md
    assert md.count("“~2 KB per poll per order”") == 1
    for users in ("1,000", "10,000", "100,000", "1,000,000"):
        assert f"| {users} |" in md
    assert "- `sim`: sim, agreement load" in md and "- `plan`: sim, seed-chat" in md


def test_the_report_renders_the_knees_write_capacity_wrote(built_report, results_root):
    """Clients per process, binding limit and processes of the plan are the measured knees' whole-core
    figures as written; the capacity curves are drawn from them."""
    from pollbench.capacity import read_capacity, servers_needed
    from reports.contents import display_tables

    written = {k.strategy: k for k in read_capacity(results_root / "knees" / "measured").knees}
    tables = display_tables(built_report.contents)
    basis = {row[0]: row for row in tables["basis"].rows}
    plan = {(row[0], row[1]): row for row in tables["plan"].rows}
    limits = {"poll:3": "CPU", "seed-dashboard:3": "CPU", "sse": "connections"}
    for strategy, knee in written.items():
        clients = f"{knee.full_core_clients:,}"
        assert basis[strategy][1] == clients and basis[strategy][2] == limits[strategy]
        assert f"{knee.max_clients:,} clients at 0.2 of a core" in basis[strategy][3]
        row = plan[(strategy, "100,000")]
        assert row[2] == f"{servers_needed(100_000, knee.full_core_clients):,}" and row[3] == clients
        assert row[4] == limits[strategy]
    md = built_report.markdown.read_text()
    assert "Knees under seed-chat: measured at 0.2 of a core for poll:3, seed-dashboard:3, sse" in md
    curves = next(c for c in built_report.contents.charts if c.name == "capacity_curves")
    assert curves.png is not None and curves.png.stat().st_size > 10_000


def test_without_knees_the_report_says_so_plainly(tmp_path):
    from reports.build import build_report
    from tests.reports.fixtures import make_results

    make_results(tmp_path / "plan", strategies=("poll:3", "sse"), deliveries=100, workload="seed-chat")
    md = build_report([tmp_path / "plan"], tmp_path / "out").markdown.read_text()
    assert "No knee under seed-chat: no knee measured: run compare with --knees" in md
    assert "(extrapolated)" in md and "**uncertain**" in md


def test_a_disagreement_is_stated_plainly(results_root, tmp_path):
    from reports.build import build_report
    from tests.reports.fixtures import make_results

    make_results(tmp_path / "measured", source="measured", seed=1, scale={"requests_per_s": 1.2},
                 workload=AGREEMENT_WORKLOAD)  # fmt: skip
    files = build_report([results_root / "sim", tmp_path / "measured"], tmp_path / "out")
    md = files.markdown.read_text()
    assert "**The simulation and the measurement disagree:**" in md
    assert "poll:3 (agreement load): simulated requests_per_s is" in md and "outside the ±5% bar" in md
    assert "The simulation and the measurement disagree" in files.html.read_text()


def test_report_of_matching_runs_says_they_agree(results_root, tmp_path):
    from reports.build import build_report
    from tests.reports.fixtures import make_results

    make_results(tmp_path / "measured", source="measured", seed=1, workload=AGREEMENT_WORKLOAD)
    files = build_report([results_root / "sim", tmp_path / "measured"], Path(tmp_path / "out"))
    assert "Every compared figure is within its bar." in files.markdown.read_text()
