"""loadtests.server_process: a load run killed with SIGTERM stops the server it started; a CPU quota
holds the server once it is seeded."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from loadtests.server_process import ServerError, ServerOptions, ServerProcess
from tests.cgroups import needs_cpu_controller


def _servers_under(out: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "serve" in cmdline and any(str(out) in part for part in cmdline):
            found.append(proc)
    return found


def _sigterm_mid_run(out: Path, strategies: str, extra: list[str]) -> tuple[int, str, int, int]:
    """Start a long load run and SIGTERM it once every strategy's server is up.

    Returns (exit code, stderr, servers it had, servers still alive 15 s after it exited), all observed
    before this helper's own clean-up kills any leftover.
    """
    run = subprocess.Popen(
        [sys.executable, "-m", "pollbench", "loadtest", "--strategies", strategies, "--users", "2",
         "--duration", "60s", "--out", str(out), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        # A strategy's server is up once Locust's raw directory for it exists.
        while not all((out / "raw" / name).exists() for name in strategies.split(",")):
            assert run.poll() is None and time.monotonic() < deadline, "the load run did not start"
            time.sleep(0.05)
        servers = _servers_under(out)
        run.send_signal(signal.SIGTERM)
        code = run.wait(timeout=30)
        _, alive = psutil.wait_procs(servers, timeout=15)
        return code, run.stderr.read() if run.stderr else "", len(servers), len(alive)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=10)
        for leftover in _servers_under(out):
            leftover.kill()


def test_sigterm_to_a_load_run_stops_its_server_and_exits_130(tmp_path: Path) -> None:
    code, stderr, servers, alive = _sigterm_mid_run(tmp_path / "out", "sse", [])
    assert (code, servers, alive) == (130, 1, 0)
    assert "interrupted" in stderr


def test_sigterm_to_a_parallel_load_run_stops_every_server(tmp_path: Path) -> None:
    code, _, servers, alive = _sigterm_mid_run(tmp_path / "out", "sse,ws", ["--parallel", "2"])
    assert (code, servers, alive) == (130, 2, 0)


@needs_cpu_controller
def test_a_server_with_a_cpu_quota_runs_in_its_group_after_writing_its_fixtures(tmp_path: Path) -> None:
    options = ServerOptions(customers=3, orders_per_customer=1, admins=1, workdir=tmp_path, cpu_quota=0.5)
    with ServerProcess(options) as server:
        assert server.quota is not None and server.quota.path is not None and server.pid is not None
        group = server.quota.path
        assert server.fixtures.is_file()
        assert f"{group.name}\n" in Path(f"/proc/{server.pid}/cgroup").read_text()
        assert server.quota.pids() == [server.pid]
        assert (group / ("cpu.max" if server.quota.version == "v2" else "cpu.cfs_quota_us")).is_file()
    assert server.quota is None and not group.exists()


def test_without_a_cpu_controller_the_server_is_not_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLLBENCH_CGROUP", str(tmp_path / "nowhere"))
    options = ServerOptions(customers=1, orders_per_customer=1, admins=1, workdir=tmp_path, cpu_quota=0.5)
    with pytest.raises(ServerError, match="no writable cgroup CPU controller"):
        ServerProcess(options).start()
    assert not (tmp_path / "server.log").exists()
