"""A seeded reference server in a subprocess, for load tests that were not given ``--host``.

``pollbench serve --port 0`` prints ``pollbench serve: listening on http://HOST:PORT`` once it listens
and then writes the fixtures file; :class:`ServerProcess` waits for both (bounded in time), then, given a
CPU quota, moves the server into its quota group (seeding runs at full speed), and stops the server with
SIGTERM (SIGKILL if it does not exit) when the context ends.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

from loadtests.cpu_quota import CpuQuota, CpuQuotaError

__all__ = ["ServerError", "ServerOptions", "ServerProcess", "seed_template", "sigterm_as_interrupt"]

_LISTENING = re.compile(r"^pollbench serve: listening on (http://\S+)\s*$")


class ServerError(RuntimeError):
    """The reference server did not start (its stderr tail is in the message)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerOptions:
    """How to seed and run the server."""

    customers: int
    """Demo customers to create (at least the number of receiving clients)."""
    orders_per_customer: int
    """Orders per customer."""
    admins: int
    """Demo admins (senders post half of the messages as an admin)."""
    workdir: Path
    """Where the database, fixtures file and server log go."""
    start_timeout_s: float = 60.0
    """Give up if the server is not listening (and the fixtures not written) by then."""
    extra_args: tuple[str, ...] = ()
    """More ``pollbench serve`` flags (e.g. ``--sse-heartbeat 15`` for an ``sse:15`` run)."""
    template: Path | None = None
    """A database seeded earlier with the same customers, orders and admins (see :func:`seed_template`):
    copied instead of seeding again, so several servers of one run start in seconds."""
    secret: str | None = None
    """Token-signing secret (``--secret``); give the template's, so the fixtures' tokens stay valid."""
    cpu_quota: float | None = None
    """Share of one core the server may use once seeded (a CPU-quota cgroup); None: no limit."""


class ServerProcess:
    """``pollbench serve`` on a free loopback port, as a context manager."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.fixtures = options.workdir / "fixtures.json"
        self.log_path = options.workdir / "server.log"
        self.base_url = ""
        self._proc: subprocess.Popen[str] | None = None
        self.quota: CpuQuota | None = None
        """The server's CPU-quota group while it runs (None without ``options.cpu_quota``)."""

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> ServerProcess:
        """Start, wait for the port and the fixtures, apply the CPU quota; ServerError when it cannot."""
        try:
            self._start()
        except BaseException:
            self.stop()  # also removes a quota group made before the failure
            raise
        return self

    def _start(self) -> None:
        o = self.options
        if o.cpu_quota is not None:
            # Made before the server starts, so a machine without a CPU controller fails before seeding.
            try:
                self.quota = CpuQuota(o.cpu_quota).create()
            except CpuQuotaError as exc:
                raise ServerError(str(exc)) from None
        o.workdir.mkdir(parents=True, exist_ok=True)
        db = o.workdir / "server.db"
        for stale in (self.fixtures, db, db.with_name("server.db-wal"), db.with_name("server.db-shm")):
            stale.unlink(missing_ok=True)
        if o.template is not None:
            for suffix in ("", "-wal", "-shm"):
                src = o.template.with_name(o.template.name + suffix)
                if src.exists():
                    shutil.copyfile(src, db.with_name(db.name + suffix))
        cmd = [
            sys.executable, "-m", "pollbench", "serve", "--host", "127.0.0.1", "--port", "0",
            "--db", str(db), "--seed-customers", str(o.customers), "--orders-per-customer",
            str(o.orders_per_customer), "--admins", str(max(1, o.admins)), "--fixtures", str(self.fixtures),
            *(("--secret", o.secret) if o.secret else ()), *o.extra_args,
        ]  # fmt: skip
        log = self.log_path.open("w", encoding="utf-8")
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True
        )
        log.close()
        self.base_url = self._wait_listening()
        deadline = time.monotonic() + o.start_timeout_s
        while not self.fixtures.exists():
            if time.monotonic() > deadline or self._proc.poll() is not None:
                raise ServerError(f"the server wrote no fixtures file: {self._log_tail()}")
            time.sleep(0.05)
        if self.quota is not None:
            # Only now: seeding 20 000 customers under a 0.2 quota would take five times as long.
            try:
                self.quota.add(self._proc.pid)
            except CpuQuotaError as exc:
                raise ServerError(str(exc)) from None

    def _wait_listening(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        found: list[str] = []
        stdout = self._proc.stdout

        def read() -> None:
            for line in stdout:
                m = _LISTENING.match(line)
                if m:
                    found.append(m.group(1))
                    break
            for _ in stdout:  # keep draining so the server never blocks on a full pipe
                pass

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        deadline = time.monotonic() + self.options.start_timeout_s
        while not found:
            if time.monotonic() > deadline or self._proc.poll() is not None:
                raise ServerError(f"the reference server did not start: {self._log_tail()}")
            time.sleep(0.02)
        return found[0]

    def _log_tail(self) -> str:
        try:
            return (
                " | ".join(self.log_path.read_text(encoding="utf-8").strip().splitlines()[-5:])
                or "(no output)"
            )
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s, then remove the quota group; safe to call twice."""
        proc, self._proc = self._proc, None
        try:
            if proc is not None and proc.poll() is None:
                _terminate(proc)
        finally:
            quota, self.quota = self.quota, None
            if quota is not None:
                quota.remove()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _terminate(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def seed_template(options: ServerOptions) -> Path:
    """Seed a database once (start the server, let it seed and write its fixtures, stop it cleanly, which
    checkpoints the WAL) and return its path, for :attr:`ServerOptions.template`."""
    with ServerProcess(options):
        pass
    return options.workdir / "server.db"


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM (CI timeouts, ``kill``) like Ctrl+C while load runs: the KeyboardInterrupt unwinds
    through every ``with ServerProcess`` and stops the server. The server runs in its own session, so the
    default SIGTERM death of this process would leave it listening forever."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
