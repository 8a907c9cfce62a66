"""pollbench.results: one schema for simulated and measured results."""

import json
import math

import numpy as np
import pytest

from pollbench.results import (
    DELIVERY_COLUMNS,
    LatencyStats,
    MessageCounts,
    QueueWait,
    ReconnectStorm,
    ResultsError,
    StrategyResult,
    Summary,
    latency_stats,
    read_deliveries,
    read_summary,
    write_deliveries,
    write_summary,
)


def _result(**kw):
    base = dict(
        latency_s=latency_stats([0.1, 0.2, 0.3]),
        requests_per_s=12.5,
        empty_poll_fraction=0.9,
        bytes_per_client_per_min=1234.0,
        bytes_per_delivery=456.0,
        server_utilization=0.2,
        queue_wait_s=QueueWait(mean=0.001, p99=0.01),
        open_connections=3.0,
        energy_j_per_client_hour=float("nan"),
        messages=MessageCounts(sent=10, delivered=9),
        bytes_per_poll=300.0,
    )
    base.update(kw)
    return StrategyResult(**base)


def test_latency_stats_match_numpy_percentiles():
    rng = np.random.default_rng(1)
    x = rng.exponential(1.0, 10_000)
    s = latency_stats(x)
    assert s.count == 10_000
    assert s.mean == pytest.approx(x.mean())
    assert s.p50 == pytest.approx(np.percentile(x, 50))
    assert s.p99 == pytest.approx(np.percentile(x, 99))
    assert s.max == x.max()


def test_latency_stats_of_nothing_is_nan_and_ignores_nan_samples():
    empty = latency_stats([])
    assert empty.count == 0 and math.isnan(empty.p50)
    assert latency_stats([1.0, float("nan"), 3.0]).mean == 2.0


def test_summary_round_trips_through_json_with_nan_as_null(tmp_path):
    summary = Summary(
        source="sim", scenario={"clients": 3}, strategies={"poll:3": _result()}, seed=4, version="x"
    )
    path = write_summary(tmp_path / "out", summary)
    raw = json.loads(path.read_text())
    assert raw["strategies"]["poll:3"]["energy_j_per_client_hour"] is None
    back = read_summary(tmp_path / "out")
    assert back.strategies["poll:3"].latency_s == summary.strategies["poll:3"].latency_s
    assert math.isnan(back.strategies["poll:3"].energy_j_per_client_hour)
    assert back.seed == 4 and back.source == "sim"


def _storm(**kw):
    base = dict(
        downtime_s=10.0, clients=4000, notice="at the crash", back_50_s=12.6, back_99_s=19.0,
        back_100_s=19.8, wait_peak_s=0.01, wait_p99_s=0.006, failed_attempts=20383, failed_attempts_max=9,
        peak_rate_per_s=980.0, normal_rate_per_s=267.0, rate_window_s=0.1, capacity_per_s=1250.0,
        saturated_s=0.05, saturated_until_s=10.8,
        backoff={"initial_s": 0.5, "factor": 2.0, "cap_s": 10.0, "jitter": True},
    )  # fmt: skip
    base.update(kw)
    return ReconnectStorm(**base)


def test_a_reconnect_storm_round_trips_through_summary_json(tmp_path):
    summary = Summary(source="sim", scenario={}, strategies={"sse": _result(reconnect_storm=_storm())})
    write_summary(tmp_path, summary)
    assert read_summary(tmp_path).strategies["sse"].reconnect_storm == _storm()


def test_a_storm_with_nan_figures_reads_back_as_nan(tmp_path):
    summary = Summary(
        source="sim", scenario={}, strategies={"sse": _result(reconnect_storm=_storm(wait_p99_s=math.nan))}
    )
    write_summary(tmp_path, summary)
    raw = json.loads((tmp_path / "summary.json").read_text())
    assert raw["strategies"]["sse"]["reconnect_storm"]["wait_p99_s"] is None
    assert math.isnan(read_summary(tmp_path).strategies["sse"].reconnect_storm.wait_p99_s)


def test_results_without_a_storm_write_null_and_old_files_without_the_key_still_read(tmp_path):
    write_summary(tmp_path, Summary(source="sim", scenario={}, strategies={"poll:3": _result()}))
    raw = json.loads((tmp_path / "summary.json").read_text())
    assert raw["strategies"]["poll:3"]["reconnect_storm"] is None
    del raw["strategies"]["poll:3"]["reconnect_storm"]  # a summary written before the field existed
    (tmp_path / "summary.json").write_text(json.dumps(raw))
    assert read_summary(tmp_path).strategies["poll:3"].reconnect_storm is None


def test_a_storm_block_missing_a_figure_is_a_schema_error(tmp_path):
    write_summary(tmp_path, Summary(source="sim", scenario={}, strategies={"sse": _result()}))
    raw = json.loads((tmp_path / "summary.json").read_text())
    raw["strategies"]["sse"]["reconnect_storm"] = {"downtime_s": 1.0}
    (tmp_path / "summary.json").write_text(json.dumps(raw))
    with pytest.raises(ResultsError, match="does not follow the pollbench schema"):
        read_summary(tmp_path)


def test_the_documented_top_level_keys_are_written(tmp_path):
    write_summary(
        tmp_path, Summary(source="measured", scenario={}, strategies={"sse": _result(bytes_per_poll=None)})
    )
    raw = json.loads((tmp_path / "summary.json").read_text())
    assert {"source", "seed", "version", "scenario", "strategies"} <= raw.keys()
    keys = raw["strategies"]["sse"].keys()
    for k in (
        "latency_s",
        "requests_per_s",
        "empty_poll_fraction",
        "bytes_per_client_per_min",
        "bytes_per_delivery",
        "server_utilization",
        "queue_wait_s",
        "open_connections",
        "energy_j_per_client_hour",
        "messages",
    ):
        assert k in keys
    assert set(raw["strategies"]["sse"]["latency_s"]) >= {"mean", "p50", "p95", "p99", "max"}


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "no such file"),
        ("{oops", "not valid JSON"),
        ('{"source": "guess"}', "not a pollbench summary"),
        ('{"source": "sim", "strategies": {"x": {}}}', "does not follow the pollbench schema"),
    ],
)
def test_bad_summary_files_are_clear_errors(tmp_path, content, fragment):
    if content is not None:
        (tmp_path / "summary.json").write_text(content)
    with pytest.raises(ResultsError, match=fragment):
        read_summary(tmp_path)


def test_deliveries_round_trip_through_parquet(tmp_path):
    cols = {c: [] for c in DELIVERY_COLUMNS}
    for i in range(3):
        cols["strategy"].append("sse")
        cols["client"].append(f"c{i}")
        cols["order_id"].append("o1")
        cols["seq"].append(i + 1)
        cols["created_at"].append(100.0 + i)
        cols["received_at"].append(100.05 + i)
        cols["latency_s"].append(0.05)
    write_deliveries(tmp_path, cols)
    df = read_deliveries(tmp_path)
    assert list(df.columns) == list(DELIVERY_COLUMNS)
    assert df["seq"].tolist() == [1, 2, 3]


def test_deliveries_missing_columns_are_rejected(tmp_path):
    with pytest.raises(ResultsError, match="lack columns"):
        write_deliveries(tmp_path, {"strategy": ["sse"]})


def test_stats_are_frozen():
    s = LatencyStats(mean=1, p50=1, p95=1, p99=1, max=1)
    with pytest.raises(AttributeError):
        s.mean = 2  # type: ignore[misc]
