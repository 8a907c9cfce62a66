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


def test_cpu_clock_counts_this_process_in_ticks() -> None:
    clock = CpuClock(os.getpid())
    before = clock()
    x = 0
    while clock() - before < 5 * TICK_S:  # bounded: busy work always accrues CPU
        x += sum(range(1000))
    spent = clock() - before
    assert spent == pytest.approx(round(spent / TICK_S) * TICK_S, abs=1e-9)  # whole ticks
    assert clock.rss() > 0


@needs_cpu_controller
def test_a_spawned_server_with_a_cpu_quota_runs_in_its_group(tmp_path: Path) -> None:
    controller = real_controller()
    assert controller is not None
    with spawn_server(tmp_path, customers=2, cpu_quota=0.5) as target:
        cgroups = Path(f"/proc/{target.pid}/cgroup").read_text().split()
        (name,) = {line.rsplit("/", 1)[1] for line in cgroups if "/pollbench-" in line}
        assert (controller.parent / name).is_dir() and len(target.fixtures.customers) == 2
    assert not (controller.parent / name).exists()
