"""A real load test of every strategy (see conftest.py): what it writes and what it measured."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from loadtests.runner import slug
from pollbench.results import DELIVERY_COLUMNS, read_deliveries, read_summary
from pollbench.strategies import parse_strategies

from .conftest import STRATEGIES, LoadRun

SPECS = [s.spec for s in parse_strategies(STRATEGIES)]
PUSH = ("longpoll", "sse", "ws")


def test_run_within_thresholds_exits_0(load_run: LoadRun) -> None:
    assert load_run.exit_code == 0


def test_summary_is_measured_and_lists_every_strategy(load_run: LoadRun) -> None:
    summary = read_summary(load_run.out)
    assert summary.source == "measured"
    assert list(summary.strategies) == SPECS


@pytest.mark.parametrize("spec", SPECS)
def test_every_posted_message_reaches_its_client_once(load_run: LoadRun, spec: str) -> None:
    r = read_summary(load_run.out).strategies[spec]
    assert r.messages.sent > 50
    assert r.messages.delivered == r.messages.sent
    assert r.extra["gaps"] == 0
    assert r.extra["duplicates"] == 0


@pytest.mark.parametrize("spec", SPECS)
def test_no_request_failed(load_run: LoadRun, spec: str) -> None:
    r = read_summary(load_run.out).strategies[spec]
    assert r.failures == 0
    assert r.extra["receivers"]["requests"] > 0


def test_deliveries_parquet_holds_every_record_of_every_strategy(load_run: LoadRun) -> None:
    df = read_deliveries(load_run.out)
    summary = read_summary(load_run.out)
    assert tuple(df.columns) == DELIVERY_COLUMNS
    counts = df.groupby("strategy").size().to_dict()
    assert counts == {spec: r.messages.delivered for spec, r in summary.strategies.items()}
    assert np.allclose(df["latency_s"], df["received_at"] - df["created_at"], rtol=0, atol=1e-12)


def test_poll_3_median_latency_is_about_half_the_interval(load_run: LoadRun) -> None:
    lat = read_summary(load_run.out).strategies["poll:3"].latency_s
    assert 0.5 <= lat.p50 <= 2.5
    assert lat.max <= 3.0 + 0.5  # a message waits at most one interval (plus the poll itself)


@pytest.mark.parametrize("spec", PUSH)
def test_push_and_longpoll_deliver_within_200_ms_at_the_median(load_run: LoadRun, spec: str) -> None:
    assert read_summary(load_run.out).strategies[spec].latency_s.p50 < 0.2


@pytest.mark.parametrize("spec", SPECS)
def test_wire_bytes_exceed_body_bytes(load_run: LoadRun, spec: str) -> None:
    e = read_summary(load_run.out).strategies[spec].extra
    assert e["wire_bytes"] > e["body_bytes"] > 0


@pytest.mark.parametrize("spec", SPECS)
def test_bytes_per_poll_only_for_polling_strategies(load_run: LoadRun, spec: str) -> None:
    r = read_summary(load_run.out).strategies[spec]
    if spec in ("sse", "ws"):
        assert r.bytes_per_poll is None
    else:
        assert r.bytes_per_poll is not None and r.bytes_per_poll > 100
    assert r.bytes_per_client_per_min > 0 and r.bytes_per_delivery > 0


def test_naive_dashboard_costs_more_bytes_per_delivery_than_differential_polling(load_run: LoadRun) -> None:
    s = read_summary(load_run.out).strategies
    assert s["seed-dashboard:1"].bytes_per_delivery > s["poll:3"].bytes_per_delivery


@pytest.mark.parametrize("spec", SPECS)
def test_locust_csv_and_html_show_deliveries(load_run: LoadRun, spec: str) -> None:
    base = load_run.out / "locust" / slug(spec)
    assert base.with_name(base.name + ".html").stat().st_size > 0
    with base.with_name(base.name + "_stats.csv").open() as f:
        rows = {(r["Type"], r["Name"]): r for r in csv.DictReader(f)}
    deliver = rows[("DELIVER", spec)]
    assert int(deliver["Request Count"]) == read_summary(load_run.out).strategies[spec].messages.delivered


@pytest.mark.parametrize("spec", SPECS)
def test_server_metrics_scraped_at_start_and_end(load_run: LoadRun, spec: str) -> None:
    r = read_summary(load_run.out).strategies[spec]
    server = r.extra["server"]
    assert server["scrapes"] >= 2
    assert server["cpu_seconds_end"] >= server["cpu_seconds_start"] > 0
    assert server["rss_bytes_end"] > 0
    assert 0 < r.server_utilization < 2
    assert r.open_connections > 0


def test_push_connections_show_in_the_server_gauge(load_run: LoadRun) -> None:
    s = read_summary(load_run.out).strategies
    assert s["sse"].extra["server"]["open_push_max"] >= 20
    assert s["ws"].extra["server"]["open_push_max"] >= 20


def test_the_seed_admin_panel_runs_alongside_and_sees_messages(load_run: LoadRun) -> None:
    with (load_run.out / "locust" / "poll_3_stats.csv").open() as f:
        rows = {(r["Type"], r["Name"]): r for r in csv.DictReader(f)}
    assert int(rows[("GET", "/api/orders (admin panel)")]["Request Count"]) > 0
    assert int(rows[("DELIVER", "admin-panel")]["Request Count"]) > 0
