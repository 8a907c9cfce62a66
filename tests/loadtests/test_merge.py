"""Merging per-process raw records: expected deliveries, gaps, duplicates, traffic totals."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.merge import merge_raw
from loadtests.recorder import Recorder
from pollbench.results import DELIVERY_COLUMNS, ResultsError


def _two_processes(raw: Path) -> None:
    a = Recorder(strategy="adaptive:min=1,max=2", raw_dir=raw, tag="worker-a")
    b = Recorder(strategy="adaptive:min=1,max=2", raw_dir=raw, tag="worker-b")
    a.started_at, b.started_at = 100.0, 100.5
    s1 = a.start_session("c1", ["o1", "o2"], baseline_seq=10, now=100.0)
    s2 = b.start_session("c2", ["o3"], baseline_seq=12, now=100.5)
    # Senders (on process b) posted: o1 seq 11 and 14, o2 seq 13, o3 seq 12 (before c2's cursor) and 15.
    for order, seq in [("o1", 11), ("o2", 13), ("o3", 12), ("o1", 14), ("o3", 15)]:
        b.sent(order, seq, created_at=100.0 + seq / 10, sender_type="admin")
    a.delivered(s1, "o1", 11, 101.1, 101.25)
    a.delivered(s1, "o1", 11, 101.1, 101.5)  # duplicate
    a.delivered(s1, "o2", 13, 101.3, 101.35)
    b.delivered(s2, "o3", 15, 101.5, 101.55)
    a.receivers.requests, a.receivers.bytes_sent = 10, 1000
    b.receivers.requests, b.receivers.failures = 5, 1
    a.close(now=110.0)
    b.close(now=111.0)


def test_gaps_are_expected_messages_never_delivered(tmp_path: Path) -> None:
    _two_processes(tmp_path)
    run = merge_raw(tmp_path)
    assert run.expected == 4  # o1:11, o1:14, o2:13 for c1; o3:15 for c2 (o3:12 is before c2's cursor)
    assert run.gaps == 1  # o1:14 never reached c1
    assert run.duplicates == 1


def test_deliveries_are_exact_and_in_the_shared_schema(tmp_path: Path) -> None:
    _two_processes(tmp_path)
    df = merge_raw(tmp_path).deliveries
    assert tuple(df.columns) == DELIVERY_COLUMNS
    assert len(df) == 3
    assert set(df["strategy"]) == {"adaptive:min=1,max=2"}  # a spec with a comma survives the CSV
    first = df.iloc[0]
    assert (first["client"], first["order_id"], first["seq"]) == ("c1", "o1", 11)
    assert first["latency_s"] == pytest.approx(0.15, abs=1e-9)


def test_traffic_and_sessions_add_up_over_processes(tmp_path: Path) -> None:
    _two_processes(tmp_path)
    run = merge_raw(tmp_path)
    assert run.processes == 2
    assert (run.receivers.requests, run.receivers.failures, run.receivers.bytes_sent) == (15, 1, 1000)
    assert run.messages_posted == 5
    assert run.clients == 2
    assert run.client_minutes == pytest.approx(((110.0 - 100.0) + (111.0 - 100.5)) / 60)
    assert (run.started_at, run.stopped_at) == (100.0, 111.0)


def test_a_directory_without_records_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="no process"):
        merge_raw(tmp_path)
