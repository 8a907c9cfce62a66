"""``pollbench audit`` on the command line: bad input exits 2 with a sentence; a clean run exits 0 and
prints the issue's JSON; Ctrl-C exits 130 and takes the server down with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from pollbench.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--strategies", "poll:fast"], "interval must be a number"),
        (["--strategies", "carrier-pigeon"], "unknown strategy"),
        (["--orders", "0"], "--orders must be at least 1"),
        (["--messages", "-5"], "--messages must be at least 1"),
        (["--orders-per-customer", "0"], "--orders-per-customer must be 1..--orders (500), got 0"),
        (["--orders", "4", "--orders-per-customer", "5"], "--orders-per-customer must be 1..--orders (4)"),
        (["--orders", "5001"], "--orders must be at most 5000"),
        (["--messages", "2000000"], "--messages must be at most 1000000"),
        (["--duration", "soon"], "--duration: duration must be"),
        (["--kill-server-every", "0"], "--kill-server-every: duration must be positive"),
        (["--drain=-1s"], "--drain: duration must be"),
        (["--host", "http://10.2.3.4:8080", "--fixtures", "f.json"], "refusing to load 10.2.3.4"),
        (["--host", "http://127.0.0.1:8080"], "--host needs --fixtures"),
        (["--host", "http://127.0.0.1:8080", "--fixtures", "/nonexistent.json"], "no such file"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_clean_run_exits_0_and_prints_the_verdict_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["audit", "--strategies", "poll:0.5,sse", "--orders", "4", "--orders-per-customer", "2",
            "--messages", "40", "--duration", "2s", "--drain", "20s", "--json"]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {k: doc[k] for k in ("acknowledged", "lost", "duplicated", "out_of_order", "server_restarts")} == {
        "acknowledged": 40, "lost": 0, "duplicated": 0, "out_of_order": 0, "server_restarts": 0,
    }  # fmt: skip
    assert doc["per_strategy"] == {
        spec: {**doc["per_strategy"][spec], "delivered": 40, "lost": 0, "duplicated": 0, "out_of_order": 0}
        for spec in ("poll:0.5", "sse")
    }


def _server_child(proc: subprocess.Popen[str], deadline: float) -> psutil.Process:
    parent = psutil.Process(proc.pid)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the audit exited early: {proc.stderr.read() if proc.stderr else ''}")
        for child in parent.children(recursive=True):
            try:
                if "serve" in child.cmdline():
                    return child
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.05)
    raise AssertionError("the audit never started its server")


def test_ctrl_c_exits_130_and_stops_the_server() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pollbench", "audit", "--strategies", "ws", "--orders", "2",
         "--messages", "1000", "--duration", "60s"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        server = _server_child(proc, time.monotonic() + 30)
        time.sleep(1.0)  # let traffic start
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        assert "interrupted" in (proc.stderr.read() if proc.stderr else "")
        server.wait(timeout=10)  # gone (raises TimeoutExpired if it is still running)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_running_server_given_by_host_is_audited_and_left_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from loadtests.server_process import ServerOptions, ServerProcess

    options = ServerOptions(customers=4, orders_per_customer=2, admins=1, workdir=tmp_path)
    with ServerProcess(options) as server:
        argv = ["audit", "--strategies", "poll:0.5,ws", "--orders", "6", "--messages", "30",
                "--duration", "2s", "--drain", "20s", "--host", server.base_url,
                "--fixtures", str(server.fixtures), "--json"]  # fmt: skip
        assert main(argv) == 0
        doc = json.loads(capsys.readouterr().out)
        assert (doc["acknowledged"], doc["lost"], doc["duplicated"], doc["server_restarts"]) == (30, 0, 0, 0)
        assert server.pid is not None and psutil.pid_exists(server.pid)  # the audit left it running


def test_a_host_cannot_be_killed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fixtures = tmp_path / "f.json"
    fixtures.write_text("{}")
    argv = ["audit", "--host", "http://127.0.0.1:9", "--fixtures", str(fixtures), "--kill-server-every", "5"]
    assert main(argv) == 2
    assert "drop --host" in capsys.readouterr().err
