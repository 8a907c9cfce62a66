"""The SSE parser turns arbitrarily split bytes into the events a browser's EventSource would see."""

from __future__ import annotations

from loadtests.sse import SseParser

STREAM = (
    b'id: 7\nevent: message\ndata: {"seq": 7}\n\n: heartbeat\n\nid: 8\ndata: line one\ndata: line two\n\n'
)


def _all_events(chunks: list[bytes]) -> list[tuple[str, str, str | None]]:
    p = SseParser()
    return [(e.event, e.data, e.id) for c in chunks for e in p.feed(c)]


def test_events_with_id_type_and_data() -> None:
    assert _all_events([STREAM]) == [("message", '{"seq": 7}', "7"), ("message", "line one\nline two", "8")]


def test_byte_by_byte_feeding_gives_the_same_events() -> None:
    assert _all_events([STREAM[i : i + 1] for i in range(len(STREAM))]) == _all_events([STREAM])


def test_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    text = STREAM.replace(b"\n", b"\r\n")
    cut = text.index(b"\r\n") + 1  # chunk ends right after a CR
    assert _all_events([text[:cut], text[cut:]]) == _all_events([STREAM])


def test_bare_cr_ends_lines_too() -> None:
    assert _all_events([STREAM.replace(b"\n", b"\r")]) == _all_events([STREAM])


def test_comments_count_as_heartbeats_and_dispatch_nothing() -> None:
    p = SseParser()
    assert p.feed(b": heartbeat\n\n: heartbeat\n\n") == []
    assert p.comments == 2


def test_last_event_id_survives_for_the_reconnect() -> None:
    p = SseParser()
    p.feed(STREAM)
    assert p.last_event_id == "8"


def test_retry_field_sets_reconnection_delay() -> None:
    p = SseParser()
    p.feed(b"retry: 2500\n\n")
    assert p.retry_ms == 2500


def test_multibyte_utf8_split_across_chunks() -> None:
    data = "data: café ☕\n\n".encode()
    cut = data.index("☕".encode()) + 1
    assert _all_events([data[:cut], data[cut:]]) == [("message", "café ☕", None)]


def test_event_wire_bytes_add_up_to_the_stream() -> None:
    p = SseParser()
    events = [e for i in range(0, len(STREAM), 5) for e in p.feed(STREAM[i : i + 5])]
    assert sum(e.wire_bytes for e in events) == len(STREAM)
