"""The server being calibrated: where it listens, which process it is, and how much CPU it has spent.

Calibration measures a server's *service time* as the CPU seconds its process spends per request. Linux
keeps every thread's runtime in nanoseconds (``/proc/PID/task/*/schedstat``, user + system); the sum over
the threads (so the SQLite writer thread counts too) is what :class:`CpuClock` reads. Where that file is
missing it falls back to ``psutil``'s per-process times, which come in clock ticks (:data:`TICK_S`,
10 ms on Linux): batches are sized so that one tick is a small share of each figure either way.

Either calibration starts its own seeded ``pollbench serve`` (the usual case), or it is pointed at a
running server on this machine with ``--host``; then the process listening on that port is found by
``psutil`` (it has to be readable by the current user).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import psutil

from loadtests.fixtures import Fixtures, FixturesError, load_fixtures
from loadtests.server_process import ServerError, ServerOptions, ServerProcess

__all__ = [
    "TICK_S",
    "CalibrateError",
    "CpuClock",
    "Target",
    "attach",
    "find_listening_pid",
    "loopback_address",
    "open_file_limit",
    "open_files",
    "spawn_server",
]

TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
"""Resolution of the kernel's per-process CPU accounting, seconds."""


class CalibrateError(RuntimeError):
    """Calibration cannot run (bad target, server not found or failing, unexpected answer)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A server to calibrate and the users to act as."""

    base_url: str
    """``http://HOST:PORT`` of the server."""
    host: str
    """Loopback address it listens on."""
    port: int
    """TCP port."""
    pid: int
    """Process id of the server (its CPU and memory are what is measured)."""
    fixtures: Fixtures
    """Seeded customers and admins with tokens."""
    spawned: bool
    """True when calibration started this server itself (and may start a second one for heartbeats)."""


class CpuClock:
    """CPU seconds (user + system, all threads) a process has spent so far.

    ``source`` "schedstat" sums the nanosecond runtime of every thread; a thread that exits keeps the
    runtime last read from it (only its final slice since the previous reading is lost, and the server's
    threads live as long as it does). "psutil" reads the kernel's per-process times in ticks. "auto"
    takes schedstat where the kernel has it.
    """

    def __init__(self, pid: int, *, source: Literal["auto", "schedstat", "psutil"] = "auto") -> None:
        self._tasks = Path(f"/proc/{pid}/task")
        self._seen: dict[str, int] = {}
        try:
            self._proc = psutil.Process(pid)
            self._proc.cpu_times()
        except psutil.Error as exc:
            raise CalibrateError(f"cannot read the CPU time of process {pid}: {exc}") from None
        has_schedstat = (self._tasks / str(pid) / "schedstat").is_file()
        if source == "schedstat" and not has_schedstat:
            raise CalibrateError(f"process {pid}: no /proc/{pid}/task/*/schedstat on this kernel")
        self.source: Literal["schedstat", "psutil"] = (
            "schedstat" if source == "schedstat" or (source == "auto" and has_schedstat) else "psutil"
        )
        """Where the readings come from."""
        self.resolution_s = 1e-9 if self.source == "schedstat" else TICK_S
        """Smallest step a reading moves by, seconds."""

    def _schedstat_s(self) -> float:
        """Runtime of every thread seen so far (the first field of each schedstat), seconds."""
        try:
            tids = os.listdir(self._tasks)
        except FileNotFoundError:
            raise CalibrateError("the server process exited during calibration") from None
        for tid in tids:
            try:
                with open(self._tasks / tid / "schedstat", "rb") as fh:
                    self._seen[tid] = int(fh.read().split(maxsplit=1)[0])
            except FileNotFoundError:
                continue  # the thread exited since the listing: its last reading stands
        return sum(self._seen.values()) / 1e9

    def __call__(self) -> float:
        if self.source == "schedstat":
            return self._schedstat_s()
        try:
            t = self._proc.cpu_times()
        except psutil.NoSuchProcess:
            raise CalibrateError("the server process exited during calibration") from None
        return float(t.user + t.system)

    def rss(self) -> int:
        """Resident memory, bytes."""
        return int(self._proc.memory_info().rss)

    def quiet(self, *, step_s: float = 0.05, still: int = 3, max_s: float = 10.0) -> float:
        """The CPU reading once the process has stopped spending (``still`` steps in a row in which it
        spent less than 0.1 % of a core: nothing, to the tick clock)."""
        deadline = time.monotonic() + max_s
        last, same = self(), 0
        while same < still and time.monotonic() < deadline:
            time.sleep(step_s)
            now = self()
            same = same + 1 if now - last < max(self.resolution_s / 2, step_s * 1e-3) else 0
            last = now
        return last


def open_file_limit(pid: int) -> int | None:
    """The soft RLIMIT_NOFILE of ``pid`` ("Max open files" in /proc/PID/limits); None if unlimited or
    unreadable."""
    try:
        text = Path(f"/proc/{pid}/limits").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Max open files"):
            soft = line[len("Max open files") :].split()[0]
            return int(soft) if soft.isdigit() else None
    return None


def open_files(pid: int) -> int | None:
    """Descriptors ``pid`` holds (entries of /proc/PID/fd); None if unreadable."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def loopback_address(url: str) -> tuple[str, int]:
    """Host and port of ``url``; only loopback addresses are accepted (loads never leave the machine)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http":
        raise CalibrateError(f"--host {url!r}: only plain http:// URLs are supported")
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        raise CalibrateError(f"--host {url!r}: bad port") from None
    if port is None:
        raise CalibrateError(f"--host {url!r}: give the port, e.g. http://127.0.0.1:8080")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise CalibrateError(
            f"--host {url!r}: calibration only loads servers on this machine (127.0.0.1, ::1, localhost)"
        )
    return ("127.0.0.1" if host == "localhost" else host), port


def find_listening_pid(port: int) -> int | None:
    """The process listening on TCP ``port`` (any loopback or wildcard address), if this user can see it."""
    for proc in psutil.process_iter():
        try:
            conns = proc.net_connections(kind="inet")
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        for c in conns:
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port:
                return int(proc.pid)
    return None


def attach(url: str, fixtures_path: Path | None) -> Target:
    """A running loopback server and its fixtures file; refuses remote hosts and unseen processes."""
    host, port = loopback_address(url)
    if fixtures_path is None:
        raise CalibrateError("--host needs --fixtures PATH (the file 'pollbench serve --fixtures' wrote)")
    try:
        fixtures = load_fixtures(fixtures_path)
    except FixturesError as exc:
        raise CalibrateError(str(exc)) from None
    pid = find_listening_pid(port)
    if pid is None:
        raise CalibrateError(
            f"no process of this user is listening on port {port}; calibration needs the server's "
            "process to read its CPU time (start it as the same user)"
        )
    bracket = f"[{host}]" if ":" in host else host
    return Target(
        base_url=f"http://{bracket}:{port}", host=host, port=port, pid=pid, fixtures=fixtures, spawned=False
    )


@contextlib.contextmanager
def spawn_server(
    workdir: Path, *, customers: int, extra_args: tuple[str, ...] = (), cpu_quota: float | None = None
) -> Iterator[Target]:
    """A freshly seeded ``pollbench serve`` on a free loopback port, stopped when the block ends;
    ``cpu_quota`` holds it to that share of one core once seeded."""
    options = ServerOptions(
        customers=customers,
        orders_per_customer=3,
        admins=1,
        workdir=workdir,
        extra_args=extra_args,
        cpu_quota=cpu_quota,
    )
    try:
        server = ServerProcess(options).start()
    except ServerError as exc:
        raise CalibrateError(str(exc)) from None
    try:
        assert server.pid is not None
        fixtures = load_fixtures(server.fixtures)
        host, port = loopback_address(server.base_url)
        yield Target(
            base_url=server.base_url, host=host, port=port, pid=server.pid, fixtures=fixtures, spawned=True
        )
    finally:
        server.stop()
