"""loadtests.server_process: a load run killed with SIGTERM stops the server it started."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil


def _servers_under(out: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "serve" in cmdline and any(str(out) in part for part in cmdline):
            found.append(proc)
    return found


def test_sigterm_to_a_load_run_stops_its_server_and_exits_130(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = subprocess.Popen(
        [sys.executable, "-m", "pollbench", "loadtest", "--strategies", "sse", "--users", "2",
         "--duration", "60s", "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (out / "raw" / "sse").exists():  # the server is up once Locust's raw directory exists
            assert run.poll() is None and time.monotonic() < deadline, "the load run did not start"
            time.sleep(0.05)
        servers = _servers_under(out)
        assert len(servers) == 1
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == 130
        assert "interrupted" in (run.stderr.read() if run.stderr else "")
        gone, alive = psutil.wait_procs(servers, timeout=15)
        assert not alive
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=10)
        for leftover in _servers_under(out):
            leftover.kill()


def test_sigterm_to_a_parallel_load_run_stops_every_server(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = subprocess.Popen(
        [sys.executable, "-m", "pollbench", "loadtest", "--strategies", "sse,ws", "--users", "2",
         "--duration", "60s", "--parallel", "2", "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not ((out / "raw" / "sse").exists() and (out / "raw" / "ws").exists()):
            assert run.poll() is None and time.monotonic() < deadline, "the load runs did not start"
            time.sleep(0.05)
        servers = _servers_under(out)
        assert len(servers) == 2
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == 130
        gone, alive = psutil.wait_procs(servers, timeout=15)
        assert not alive
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=10)
        for leftover in _servers_under(out):
            leftover.kill()
