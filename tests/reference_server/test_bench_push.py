"""The idle subscriber crowd: opens every connection it is asked for, reports it, leaves on end-of-input."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator

import pytest

from reference_server.bench_process import LineReader, spawn, wait_for_listening
from reference_server.bench_push_phase import PushFigure, measure_push

BARE = [sys.executable, "-m", "reference_server.bench_bare", "--host", "127.0.0.1", "--port", "0"]


@pytest.fixture
def bare_url(tmp_path) -> Iterator[tuple[object, str]]:
    with spawn("bare server", BARE, tmp_path) as child:
        yield child, wait_for_listening(child, timeout_s=30)


@pytest.fixture
def targets(tmp_path):
    path = tmp_path / "targets.json"
    path.write_text(json.dumps([{"token": "t1", "orderId": "o1", "since": 0}]))
    return path


@pytest.mark.parametrize("kind", ["sse", "ws"])
def test_crowd_opens_every_connection_and_closes_on_eof(kind, bare_url, targets, tmp_path):
    _child, url = bare_url
    argv = [sys.executable, "-m", "reference_server.bench_push", "--kind", kind, "--base-url", url,
            "--targets", str(targets), "--count", "30", "--hold-s", "60"]  # fmt: skip
    with spawn(f"{kind} clients", argv, tmp_path, pipe_io=True) as client:
        reader = LineReader(client)
        deadline = time.monotonic() + 30
        lines = []
        while (line := reader.readline(deadline)) is not None and not line.startswith("ready"):
            lines.append(line)
        assert line == "ready 30 0"
        assert client.proc.stdin is not None
        client.proc.stdin.close()
        assert reader.readline(time.monotonic() + 30) == "closed"
        assert client.proc.wait(timeout=30) == 0


def test_crowd_counts_refused_handshakes_as_failed(targets, tmp_path):
    import socket

    with socket.socket() as s:  # bound, never listening: every connect is refused
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        argv = [sys.executable, "-m", "reference_server.bench_push", "--kind", "sse", "--base-url", url,
                "--targets", str(targets), "--count", "5", "--hold-s", "5"]  # fmt: skip
        with spawn("sse clients", argv, tmp_path, pipe_io=True) as client:
            reader = LineReader(client)
            deadline = time.monotonic() + 30
            while (line := reader.readline(deadline)) is not None and not line.startswith("ready"):
                pass
            assert line == "ready 0 5"


class _Settings:
    handshake_concurrency = 50
    settle_pause_s = 0.2
    settle_max_s = 2.0


class _Quiet:
    def detail(self, text: str) -> None:
        pass


def test_measure_push_reports_memory_growth_per_opened_connection(bare_url, targets, tmp_path):
    child, url = bare_url
    figure = measure_push(_Settings(), child, url, "bare", "ws", 200, targets, tmp_path, _Quiet())
    assert (figure.opened, figure.failed) == (200, 0)
    assert figure.rss_held > figure.rss_before  # 200 WebSockets cost a live server something
    assert figure.per_connection == (figure.rss_held - figure.rss_before) / 200
    assert figure.passed is None  # the bare floor has no target


def test_push_target_fails_over_16_kib_or_with_failed_handshakes():
    def fig(per_conn: int, failed: int = 0) -> PushFigure:
        opened = 100 - failed
        return PushFigure(server="reference", kind="sse", requested=100, opened=opened, failed=failed,
                          open_s=1.0, rss_before=0, rss_held=per_conn * opened, rss_after=0)  # fmt: skip

    assert fig(16 * 1024).passed is True
    assert fig(16 * 1024 + 1).passed is False
    assert fig(1024, failed=1).passed is False
