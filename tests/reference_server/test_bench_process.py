"""Benchmark child processes: started, read with deadlines, always stopped, memory read once settled."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from reference_server.bench_process import ChildError, LineReader, settled_rss, spawn, wait_for_listening

BARE = [sys.executable, "-m", "reference_server.bench_bare", "--host", "127.0.0.1", "--port", "0"]


def test_spawn_reports_the_listening_url_and_stops_the_child(tmp_path):
    with spawn("bare server", BARE, tmp_path) as child:
        url = wait_for_listening(child, timeout_s=30)
        assert url.startswith("http://127.0.0.1:")
        pid = child.proc.pid
    assert child.proc.poll() is not None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_spawn_stops_the_child_when_the_block_raises(tmp_path):
    with pytest.raises(RuntimeError, match="boom"), spawn("bare server", BARE, tmp_path) as child:
        raise RuntimeError("boom")
    assert child.proc.poll() is not None


def test_a_child_that_dies_early_is_reported_with_its_last_words(tmp_path):
    argv = [sys.executable, "-c", "import sys; sys.stderr.write('no database here\\n'); sys.exit(3)"]
    with (
        spawn("server", argv, tmp_path) as child,
        pytest.raises(ChildError, match="(?s)status 3.*no database here"),
    ):
        wait_for_listening(child, timeout_s=30)


def test_a_silent_child_times_out(tmp_path):
    argv = [sys.executable, "-c", "import time; time.sleep(30)"]
    started = time.monotonic()
    with spawn("server", argv, tmp_path) as child, pytest.raises(ChildError, match="did not report"):
        wait_for_listening(child, timeout_s=0.5)
    assert time.monotonic() - started < 10


def test_line_reader_returns_lines_then_none_at_the_deadline(tmp_path):
    argv = [sys.executable, "-c", "print('one'); print('two', flush=True); import time; time.sleep(30)"]
    with spawn("talker", argv, tmp_path, pipe_io=True) as child:
        reader = LineReader(child)
        assert reader.readline(time.monotonic() + 10) == "one"
        assert reader.readline(time.monotonic() + 10) == "two"
        started = time.monotonic()
        assert reader.readline(time.monotonic() + 0.3) is None
        assert time.monotonic() - started < 2


def test_settled_rss_is_this_process_resident_size():
    rss = settled_rss(psutil.Process().pid, pause_s=0.0, max_wait_s=2.0)
    assert rss == pytest.approx(psutil.Process().memory_info().rss, rel=0.2)


def test_children_run_in_their_own_session_so_ctrl_c_reaches_only_the_benchmark(tmp_path):
    with spawn("bare server", BARE, tmp_path) as child:
        wait_for_listening(child, timeout_s=30)
        assert os.getsid(child.proc.pid) == child.proc.pid != os.getsid(0)


def test_a_child_is_terminated_when_its_parent_dies(tmp_path):
    # The middle process spawns a sleeper through spawn() and is then killed outright (no cleanup runs).
    script = (
        "import sys, os, signal, pathlib\n"
        "from reference_server.bench_process import spawn\n"
        "argv = [sys.executable, '-c', 'import time; time.sleep(60)']\n"
        "cm = spawn('sleeper', argv, pathlib.Path(sys.argv[1]))\n"
        "child = cm.__enter__()\n"
        "print(child.proc.pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=30
    )
    sleeper = psutil.Process(int(out.stdout.split()[0]))
    sleeper.wait(timeout=10)  # raises TimeoutExpired if the sleeper outlives its parent
    assert not sleeper.is_running()
