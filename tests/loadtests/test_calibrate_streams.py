"""Counting SSE markers across reads: a marker split between two reads counts once, never twice."""

from __future__ import annotations

from loadtests.calibrate_streams import _count_new


def test_markers_in_the_kept_tail_are_not_counted_again() -> None:
    first = b"x" * 20 + b": heartbeat"
    tail = first[-13:]  # holds the whole marker: counted with the first read
    assert _count_new(first, b": heartbeat", 0) == 1
    assert _count_new(tail + b"\n\n", b": heartbeat", len(tail)) == 0


def test_a_marker_split_across_reads_is_counted_in_the_second() -> None:
    first = b"x" * 20 + b"event: mes"
    assert _count_new(first, b"event: message", 0) == 0
    tail = first[-13:]
    assert _count_new(tail + b"sage\ndata: {}\n\n", b"event: message", len(tail)) == 1


def test_every_marker_in_one_read_is_counted() -> None:
    data = b"id: 1\nevent: message\ndata: {}\n\n" * 3
    assert _count_new(data, b"event: message", 0) == 3
