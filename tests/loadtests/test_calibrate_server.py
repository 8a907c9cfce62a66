"""Finding and reading the server under calibration: loopback only, its pid by port, its CPU clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtests.calibrate_server import (
    TICK_S,
    CalibrateError,
    CpuClock,
    attach,
    find_listening_pid,
    loopback_address,
    spawn_server,
)
from loadtests.server_process import ServerOptions, ServerProcess
from tests.cgroups import needs_cpu_controller, real_controller


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    options = ServerOptions(
        customers=2, orders_per_customer=3, admins=1, workdir=tmp_path_factory.mktemp("s")
    )
    with ServerProcess(options) as proc:
        yield proc


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("127.0.0.2:81", ("127.0.0.2", 81)),
        ("http://localhost:9000", ("127.0.0.1", 9000)),
        ("http://[::1]:8080", ("::1", 8080)),
    ],
)
def test_loopback_addresses_are_accepted(url: str, expected: tuple[str, int]) -> None:
    assert loopback_address(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.1.2.3:8080", "only loads servers on this machine"),
        ("http://example.com:80", "only loads servers on this machine"),
        ("https://127.0.0.1:8443", "plain http"),
        ("http://127.0.0.1", "give the port"),
    ],
)
def test_other_hosts_are_refused(url: str, message: str) -> None:
    with pytest.raises(CalibrateError, match=message):
        loopback_address(url)


def test_the_listening_process_is_found_by_port(server: ServerProcess) -> None:
    port = int(server.base_url.rsplit(":", 1)[1])
    assert find_listening_pid(port) == server.pid


def test_attach_reads_the_fixtures_and_the_pid(server: ServerProcess) -> None:
    target = attach(server.base_url, server.fixtures)
    assert target.pid == server.pid
    assert not target.spawned
    assert len(target.fixtures.customers) == 2


def test_attach_without_a_listener_fails_clearly(server: ServerProcess, tmp_path: Path) -> None:
    with pytest.raises(CalibrateError, match="no process of this user is listening on port 9"):
        attach("http://127.0.0.1:9", server.fixtures)


def test_attach_needs_fixtures(server: ServerProcess) -> None:
    with pytest.raises(CalibrateError, match="--host needs --fixtures"):
        attach(server.base_url, None)


def _burn(clock: CpuClock, cpu_s: float) -> None:
    before, x = clock(), 0
    while clock() - before < cpu_s:  # bounded: busy work always accrues CPU
        x += sum(range(1000))


def test_the_psutil_clock_counts_this_process_in_ticks() -> None:
    clock = CpuClock(os.getpid(), source="psutil")
    assert clock.resolution_s == TICK_S
    before = clock()
    _burn(clock, 5 * TICK_S)
    spent = clock() - before
    assert spent == pytest.approx(round(spent / TICK_S) * TICK_S, abs=1e-9)  # whole ticks
    assert clock.rss() > 0


needs_schedstat = pytest.mark.skipif(
    not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/schedstat").is_file(), reason="no schedstat here"
)


@needs_schedstat
def test_the_schedstat_clock_is_finer_than_a_tick() -> None:
    clock = CpuClock(os.getpid())
    assert clock.source == "schedstat"
    before = clock()
    _burn(clock, TICK_S / 10)
    assert 0 < clock() - before < TICK_S / 2


@needs_schedstat
def test_schedstat_agrees_with_psutil_on_a_long_sample() -> None:
    """0.5 s of CPU read both ways: psutil's figure is the same to within two ticks (its rounding)."""
    fine, coarse = CpuClock(os.getpid(), source="schedstat"), CpuClock(os.getpid(), source="psutil")
    f0, c0 = fine(), coarse()
    _burn(fine, 0.5)
    f1, c1 = fine(), coarse()
    assert f1 - f0 == pytest.approx(c1 - c0, abs=2 * TICK_S)


@needs_schedstat
def test_schedstat_counts_every_thread(server: ServerProcess) -> None:
    """The server's threads (event loop, SQLite writer) are all summed: the total is at least psutil's
    less a tick per thread."""
    assert server.pid is not None
    fine, coarse = CpuClock(server.pid), CpuClock(server.pid, source="psutil")
    threads = len(os.listdir(f"/proc/{server.pid}/task"))
    assert fine() >= coarse() - threads * TICK_S > 0


def test_the_descriptor_limit_and_count_come_from_proc(server: ServerProcess) -> None:
    import psutil

    from loadtests.calibrate_server import open_file_limit, open_files

    assert server.pid is not None
    assert open_file_limit(server.pid) == psutil.Process(server.pid).rlimit(psutil.RLIMIT_NOFILE)[0]
    held = open_files(server.pid)
    assert held is not None and 3 < held == psutil.Process(server.pid).num_fds()


@needs_cpu_controller
def test_a_spawned_server_with_a_cpu_quota_runs_in_its_group(tmp_path: Path) -> None:
    controller = real_controller()
    assert controller is not None
    with spawn_server(tmp_path, customers=2, cpu_quota=0.5) as target:
        cgroups = Path(f"/proc/{target.pid}/cgroup").read_text().split()
        (name,) = {line.rsplit("/", 1)[1] for line in cgroups if "/pollbench-" in line}
        assert (controller.parent / name).is_dir() and len(target.fixtures.customers) == 2
    assert not (controller.parent / name).exists()
