"""reports.charts: every chart drawn from data, or skipped with a note saying why."""

from reports.charts import CHART_NAMES, draw_charts
from reports.load import load_results
from tests.reports.fixtures import make_results

_PNG = b"\x89PNG\r\n\x1a\n"


def test_every_chart_is_drawn_from_sim_measured_and_capacity_results(built_report):
    charts = built_report.contents.charts
    assert [c.name for c in charts] == list(CHART_NAMES)
    for chart in charts:
        assert chart.png is not None, f"{chart.name} skipped: {chart.note}"
        assert chart.png.read_bytes()[:8] == _PNG
        assert chart.svg is not None and b"<svg" in chart.svg.read_bytes()[:2000]


def test_charts_without_their_data_are_skipped_with_a_note(tmp_path):
    make_results(tmp_path / "sim", strategies=("poll:3", "sse"), deliveries=50)
    charts = {c.name: c for c in draw_charts(load_results([tmp_path / "sim"]), tmp_path / "charts")}
    assert charts["capacity_curves"].png is None and "capacity.json" in charts["capacity_curves"].note
    assert charts["sim_vs_measured"].png is None and "both" in charts["sim_vs_measured"].note
    assert charts["utilization_vs_clients"].png is None
    assert charts["latency_cdf"].png is not None and charts["latency_cdf"].png.exists()


def test_utilization_curve_is_drawn_from_runs_at_several_client_counts(tmp_path):
    make_results(tmp_path / "small", clients=100, strategies=("poll:3",), deliveries=20)
    make_results(tmp_path / "large", clients=1000, strategies=("poll:3",), deliveries=20)
    charts = {c.name: c for c in draw_charts(load_results([tmp_path]), tmp_path / "charts")}
    assert charts["utilization_vs_clients"].png is not None


def test_bar_charts_of_runs_without_figures_are_skipped(tmp_path):
    from pollbench.results import (
        MessageCounts,
        QueueWait,
        StrategyResult,
        Summary,
        latency_stats,
        write_summary,
    )

    nan = float("nan")
    empty = StrategyResult(
        latency_s=latency_stats([]),
        requests_per_s=nan,
        empty_poll_fraction=nan,
        bytes_per_client_per_min=nan,
        bytes_per_delivery=nan,
        server_utilization=nan,
        queue_wait_s=QueueWait(mean=nan, p99=nan),
        open_connections=nan,
        energy_j_per_client_hour=nan,
        messages=MessageCounts(sent=0, delivered=0),
    )
    write_summary(tmp_path / "run", Summary(source="measured", scenario={}, strategies={"sse": empty}))
    charts = draw_charts(load_results([tmp_path / "run"]), tmp_path / "charts")
    assert [c.png for c in charts] == [None] * len(charts)
    assert all(c.note.startswith("Skipped:") for c in charts)
