"""Sampling a local process from /proc: CPU seconds, memory, descriptors."""

from __future__ import annotations

import os
import socket
import time

import pytest

from loadtests.process_watch import ProcessWatch, sample_process


def test_cpu_of_a_busy_span_is_close_to_its_wall_time() -> None:
    watch = ProcessWatch(os.getpid())
    watch.restart()
    deadline = time.perf_counter() + 0.3
    while time.perf_counter() < deadline:
        pass
    watch.sample()
    # a busy loop uses at most one core; on a shared machine it may get less, never much less than half
    assert 0.4 < watch.cpu_cores <= 1.05


def test_open_sockets_show_in_the_descriptor_count() -> None:
    before = sample_process(os.getpid()).fds
    socks = [socket.socket() for _ in range(5)]
    try:
        assert sample_process(os.getpid()).fds == before + 5
    finally:
        for s in socks:
            s.close()
    assert sample_process(os.getpid()).rss_bytes > 10 * 2**20


def test_a_gone_process_is_reported() -> None:
    with pytest.raises(ProcessLookupError):
        sample_process(2**22 + 12345)
