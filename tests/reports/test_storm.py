"""reports.storm: the reconnect-storm section of the report (table, notes, both renderers)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from pollbench.cli import main
from pollbench.results import MessageCounts, QueueWait, ReconnectStorm, StrategyResult, Summary, latency_stats
from reports.build import ReportFiles, build_report
from reports.load import ResultSet
from reports.storm import SATURATED_FLAG_S, STORM_TITLE, storm_notes, storm_rows, storm_table
from tests.reports.helpers import result_set


def _storm(**kw: object) -> ReconnectStorm:
    base: dict[str, object] = dict(
        downtime_s=30.0, clients=4000, notice="at the crash", back_50_s=33.0, back_99_s=39.0,
        back_100_s=39.9, wait_peak_s=0.01, wait_p99_s=0.006, failed_attempts=36576, failed_attempts_max=9,
        peak_rate_per_s=880.0, normal_rate_per_s=267.0, rate_window_s=0.1, capacity_per_s=1250.0,
        saturated_s=0.03, saturated_until_s=30.1,
        backoff={"initial_s": 0.5, "factor": 2.0, "cap_s": 10.0, "jitter": True},
    )  # fmt: skip
    base.update(kw)
    return ReconnectStorm(**base)  # type: ignore[arg-type]


def _result(storm: ReconnectStorm | None, offered_load: float = 0.3) -> StrategyResult:
    return StrategyResult(
        latency_s=latency_stats([0.1]), requests_per_s=1.0, empty_poll_fraction=0.0,
        bytes_per_client_per_min=1.0, bytes_per_delivery=1.0, server_utilization=min(1.0, offered_load),
        queue_wait_s=QueueWait(mean=0.0, p99=0.0), open_connections=1.0, energy_j_per_client_hour=math.nan,
        messages=MessageCounts(sent=1, delivered=1), extra={"offered_load": offered_load},
        reconnect_storm=storm,
    )  # fmt: skip


def _with(strategies: dict[str, StrategyResult]) -> ResultSet:
    summary = Summary(source="sim", scenario={}, strategies=strategies)
    return dataclasses.replace(result_set([]), summaries={"sim": summary})


def test_runs_without_a_modelled_restart_have_no_storm_table_or_notes() -> None:
    results = _with({"sse": _result(None)})
    assert storm_table(results) is None and storm_notes(results) == [] and storm_rows(results) == []


def test_the_table_has_one_row_per_strategy_with_a_storm() -> None:
    results = _with({"sse": _result(_storm()), "poll:3": _result(None), "ws": _result(_storm(clients=10))})
    table = storm_table(results)
    assert table is not None
    assert [row[1] for row in table.rows] == ["sse", "ws"]
    sse = dict(zip(table.columns, table.rows[0], strict=True))
    assert sse["99 % back s"] == "39" and sse["refused attempts"] == "36,576" and sse["× normal"] == "3.3"


def test_a_long_saturation_or_an_overloaded_process_is_flagged() -> None:
    results = _with(
        {
            "sse": _result(_storm()),
            "longpoll": _result(_storm(saturated_s=SATURATED_FLAG_S + 5)),
            "seed-dashboard:3": _result(_storm(), offered_load=7.3),
        }
    )
    table = storm_table(results)
    assert table is not None
    flags = {row[1]: flag for row, flag in zip(table.rows, table.flagged, strict=True)}
    assert flags == {"sse": False, "longpoll": True, "seed-dashboard:3": True}
    assert dict(zip(table.columns, table.rows[2], strict=True))["saturated s"] == "never drains"


def test_notes_state_the_restart_then_the_worst_saturation_first() -> None:
    results = _with(
        {
            "sse": _result(_storm()),
            "longpoll": _result(_storm(saturated_s=6.36, saturated_until_s=66.4, wait_peak_s=0.771)),
            "seed-dashboard:3": _result(_storm(), offered_load=7.3),
        }
    )
    intro, *notes = storm_notes(results)
    assert "4,000 clients" in intro and "30 s later" in intro and "cap 10 s" in intro
    assert notes[0].startswith("seed-dashboard:3") and "never drains" in notes[0]
    assert notes[1].startswith("longpoll") and "saturated for 6.36 s" in notes[1] and "66.4 s" in notes[1]
    assert notes[2].startswith("sse") and "absorbs the storm" in notes[2]


@pytest.fixture(scope="module")
def storm_report(tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    """A real simulated run with a restart, reported."""
    root = tmp_path_factory.mktemp("storm")
    argv = ["simulate", "--clients", "200", "--duration", "2m", "--strategies", "poll:5,longpoll,sse",
            "--restart-downtime", "15", "--out", str(root / "sim")]  # fmt: skip
    assert main(argv) == 0
    return build_report([root / "sim"], root / "report")


def test_markdown_report_has_the_storm_section_with_its_table(storm_report: ReportFiles) -> None:
    text = storm_report.markdown.read_text()
    section = text[text.index(f"## {STORM_TITLE}") :]
    assert "dies and listens again 15 s later" in section
    assert "| run | strategy | clients | downtime s |" in section
    assert all(f"| {spec} |" in section for spec in ("poll:5", "longpoll", "sse"))


def test_html_report_has_the_storm_section_with_its_table(storm_report: ReportFiles) -> None:
    html = storm_report.html.read_text()
    section = html[html.index(f"<h2>{STORM_TITLE}</h2>") :]
    assert "<th" in section and "refused attempts" in section and "at their next poll" in section


def test_a_report_of_runs_without_a_restart_has_no_storm_section(built_report: ReportFiles) -> None:
    assert STORM_TITLE not in built_report.markdown.read_text()
    assert STORM_TITLE not in built_report.html.read_text()


def test_the_storm_section_sits_between_the_capacity_plan_and_the_figures(storm_report: ReportFiles) -> None:
    text = storm_report.markdown.read_text()
    assert text.index("## Capacity plan") < text.index(f"## {STORM_TITLE}") < text.index("## Figures")


def test_results_dirs_are_read_back_with_their_storms(storm_report: ReportFiles) -> None:
    rows = storm_rows(storm_report.contents.results)
    assert {r.strategy for r in rows} == {"poll:5", "longpoll", "sse"}
    assert all(r.storm.downtime_s == 15.0 and isinstance(r.run, str) for r in rows)
    assert Path(storm_report.markdown).exists()
