"""Reading a running load test's raw records: complete lines only, incrementally; the window's latencies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.raw_tail import RawTail, window_latencies
from loadtests.recorder import Recorder


def test_rows_are_read_once_and_a_half_written_line_waits(tmp_path: Path) -> None:
    sent = tmp_path / "sent-a.csv"
    sent.write_text("order_id,seq,created_at,sender_type\no1,1,10.5,admin\no1,2,11")
    tail = RawTail(tmp_path)
    tail.poll()
    assert tail.sent == [("o1", 1, 10.5)]
    with sent.open("a") as f:
        f.write(".25,customer\no2,3,12.0,admin\n")
    tail.poll()
    assert tail.sent == [("o1", 1, 10.5), ("o1", 2, 11.25), ("o2", 3, 12.0)]


def test_the_first_delivery_of_a_message_counts(tmp_path: Path) -> None:
    (tmp_path / "deliveries-a.csv").write_text(
        "client,order_id,seq,created_at,received_at\nc1,o1,1,10.0,12.0\nc2,o1,1,10.0,11.0\n"
    )
    header = "client,order_id,seq,created_at,received_at\n"
    (tmp_path / "deliveries-b.csv").write_text(header + "c3,o1,1,10.0,13.0\n")
    tail = RawTail(tmp_path)
    tail.poll()
    assert tail.first_delivery == {("o1", 1): 11.0}


def test_counters_of_every_process_are_summed(tmp_path: Path) -> None:
    for tag, requests in (("a", 10), ("b", 5)):
        rec = Recorder(strategy="poll:3", raw_dir=tmp_path, tag=tag)
        rec.receivers.requests = requests
        rec.senders.failures = 1
        rec.start_session("c1", ["o1"], 0, 0.0)
        rec.flush_counters(1.0)
    (tmp_path / "counters-broken.json").write_text("{half")
    c = RawTail(tmp_path).counters()
    assert (c.requests, c.failures, c.sessions, c.processes) == (15, 2, 2, 2)
    assert json.loads((tmp_path / "counters-a.json").read_text())["at"] == 1.0


def tail_with(sent: list[tuple[str, int, float]], delivered: dict[tuple[str, int], float]) -> RawTail:
    tail = RawTail(Path("/nonexistent"))
    tail.sent = sent
    tail.first_delivery = delivered
    return tail


def test_only_messages_committed_in_the_window_are_judged() -> None:
    tail = tail_with(
        [("o1", 1, 4.0), ("o1", 2, 6.0), ("o2", 3, 14.0), ("o2", 4, 16.0)],
        {("o1", 1): 9.0, ("o1", 2): 6.5, ("o2", 3): 14.25, ("o2", 4): 30.0},
    )
    latencies, missing = window_latencies(tail, (5.0, 15.0), 20.0)
    assert sorted(latencies.tolist()) == [0.25, 0.5] and missing == 0


def test_a_missing_or_late_message_counts_with_its_wait_so_far() -> None:
    tail = tail_with([("o1", 1, 10.0), ("o1", 2, 11.0)], {("o1", 2): 25.0})
    latencies, missing = window_latencies(tail, (5.0, 15.0), 20.0)
    assert missing == 2
    assert sorted(latencies.tolist()) == pytest.approx([9.0, 10.0])
