"""The runner's Locust command lines, and a real master + external worker run."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from loadtests.runner import LOCUSTFILE, LoadTestConfig, free_loopback_port, locust_command, slug
from pollbench.cli import main
from pollbench.results import read_summary
from pollbench.strategies import parse_strategy


def _config(tmp_path: Path, **kw: object) -> LoadTestConfig:
    base = dict(users=100, spawn_rate=50.0, duration_s=20.0, message_interval_s=10.0, orders_per_customer=3,
                admins=1, out=tmp_path)  # fmt: skip
    return LoadTestConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_slug_makes_specs_file_names() -> None:
    assert slug("adaptive:min=1,max=2") == "adaptive_min_1_max_2"
    assert slug("poll:2.5") == "poll_2.5"


def test_command_runs_senders_plus_receivers_for_send_time_plus_drain(tmp_path: Path) -> None:
    cmd = locust_command(
        _config(tmp_path), parse_strategy("poll:3"), "http://127.0.0.1:1", Path("f"), Path("r")
    )
    assert cmd[cmd.index("-f") + 1] == str(LOCUSTFILE)
    assert cmd[cmd.index("-u") + 1] == "104"  # 100 receivers + one sender per 25
    assert cmd[cmd.index("--stop-after") + 1] == "25"  # 20 s of sending + poll:3's 5 s drain
    assert cmd[cmd.index("--send-for") + 1] == "20"
    assert "--processes" not in cmd and "--master" not in cmd


def test_command_for_processes_and_for_a_master(tmp_path: Path) -> None:
    cmd = locust_command(
        _config(tmp_path, processes=4, users=10), parse_strategy("sse"), "u", Path("f"), Path("r")
    )
    assert cmd[cmd.index("--processes") + 1] == "4"
    assert cmd[cmd.index("-u") + 1] == "14"  # at least one sender per worker process
    master = _config(tmp_path, master=True, expect_workers=2)
    cmd = locust_command(master, parse_strategy("ws"), "u", Path("f"), Path("r"))
    assert "--master" in cmd and cmd[cmd.index("--expect-workers") + 1] == "2"
    assert cmd[cmd.index("--master-bind-port") + 1] == "5557"  # Locust's default unless --master-port


def test_processes_talk_over_a_private_loopback_master_port(tmp_path: Path) -> None:
    """Not Locust's shared default 5557: two runs at once must not swap workers."""
    cmd = locust_command(_config(tmp_path, processes=2), parse_strategy("sse"), "u", Path("f"), Path("r"))
    port = cmd[cmd.index("--master-bind-port") + 1]
    assert cmd[cmd.index("--master-port") + 1] == port != "5557"
    assert cmd[cmd.index("--master-bind-host") + 1] == cmd[cmd.index("--master-host") + 1] == "127.0.0.1"


def test_master_with_an_external_worker_merges_the_worker_records(tmp_path: Path) -> None:
    """A real distributed run: plain `locust --worker` first, then the master through pollbench."""
    port = str(free_loopback_port())  # not 5557: another run on this machine may hold that one
    worker = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker", "--master-host", "127.0.0.1",
         "--master-port", port],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        out = tmp_path / "out"
        argv = ["loadtest", "--strategies", "ws", "--users", "10", "--duration", "4s", "--out", str(out),
                "--message-interval", "1s", "--master", "--expect-workers", "1",
                "--master-port", port]  # fmt: skip
        assert main(argv) == 0
        assert worker.wait(timeout=30) == 0  # the master's quit message ends the worker
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
    assert [p.name for p in (out / "raw" / "ws").glob("process-*.json")] == [
        f"process-{socket.gethostname()}-{worker.pid}.json"
    ]
    result = read_summary(out).strategies["ws"]
    assert result.messages.delivered == result.messages.sent > 0
