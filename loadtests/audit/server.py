"""The server under audit: a ``pollbench serve`` subprocess that can be killed and brought back.

Unlike the load tests' server, this one keeps its identity across deaths: the same database file (so
every acknowledged message must still be there), the same loopback port (so clients reconnect to the
address they know) and the same token secret (so the customers' tokens stay valid). The secret goes in
through the environment rather than the command line, where any local user could read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

__all__ = ["AuditServer", "AuditServerError", "ServerSpec", "free_port"]


class AuditServerError(RuntimeError):
    """The server did not come up (its log tail is in the message)."""


def free_port() -> int:
    """A loopback port nobody listens on right now (picked once; every restart reuses it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSpec:
    """What to run and how to seed it."""

    workdir: Path
    """Database, fixtures file and server log go here."""
    port: int
    """Loopback port, the same for every restart."""
    customers: int
    """Demo customers c1..cN."""
    orders_per_customer: int
    """Orders per customer (o1, o2, ... in customer order)."""
    admins: int = 1
    """Demo admins (senders post as admins and as the order's customer)."""
    start_timeout_s: float = 60.0
    """Give up if the server is not healthy by then."""


class AuditServer:
    """Start, SIGKILL, restart and finally stop one ``pollbench serve`` process."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.base_url = f"http://127.0.0.1:{spec.port}"
        self.db = spec.workdir / "audit.db"
        self.fixtures_path = spec.workdir / "fixtures.json"
        self.log_path = spec.workdir / "server.log"
        self.restarts = 0
        """Kills followed by a successful start."""
        self.down_s = 0.0
        """Total seconds between a kill and the server answering /healthz again."""
        self._secret = secrets.token_hex(32)
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    def command(self) -> list[str]:
        s = self.spec
        return [
            sys.executable, "-m", "pollbench", "serve", "--host", "127.0.0.1", "--port", str(s.port),
            "--db", str(self.db), "--seed-customers", str(s.customers), "--orders-per-customer",
            str(s.orders_per_customer), "--admins", str(s.admins), "--messages-per-order", "0",
            "--fixtures", str(self.fixtures_path),
        ]  # fmt: skip

    async def start(self) -> None:
        """Start the process and wait until it answers ``/healthz`` (and its fixtures file exists)."""
        self.spec.workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "POLLBENCH_SECRET": self._secret}
        with self.log_path.open("a", encoding="utf-8") as log:
            self._proc = await asyncio.create_subprocess_exec(
                *self.command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
                env=env,
                start_new_session=True,  # Ctrl-C reaches us, and we decide when the server goes
            )
        await self._wait_healthy()

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.spec.start_timeout_s
        timeout = aiohttp.ClientTimeout(total=2.0)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                if self._proc is None or self._proc.returncode is not None:
                    raise AuditServerError(f"the server exited at start: {self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with session.get(self.base_url + "/healthz") as resp:
                        if resp.status == 200 and self.fixtures_path.exists():
                            return
                if time.monotonic() > deadline:
                    await self.stop()
                    raise AuditServerError(
                        f"the server was not healthy after {self.spec.start_timeout_s:g} s: {self.log_tail()}"
                    )
                await asyncio.sleep(0.05)

    def fixtures(self) -> dict[str, Any]:
        """The fixtures document (base URL, customers with tokens and orders, admins)."""
        document: dict[str, Any] = json.loads(self.fixtures_path.read_text(encoding="utf-8"))
        return document

    async def kill_and_restart(self) -> None:
        """SIGKILL (no shutdown, no flush beyond what was fsynced), then start again on the same files."""
        started = time.monotonic()
        await self.kill()
        await self.start()
        self.restarts += 1
        self.down_s += time.monotonic() - started

    async def kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()

    async def stop(self) -> None:
        """SIGTERM (a clean shutdown), SIGKILL after 10 s; safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), timeout=10)
        except ProcessLookupError:
            return
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()

    def kill_now(self) -> None:
        """Synchronous last resort for interrupted runs: SIGKILL whatever is still running."""
        pid = self.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)

    def log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8").strip().splitlines()[-5:]
        except OSError:
            return "(no log)"
        return " | ".join(lines) or "(no output)"


class AttachedServer:
    """A server the audit did not start (``--host``): audited as it is, never killed or stopped."""

    def __init__(self, base_url: str, fixtures_path: Path) -> None:
        self.base_url = base_url.rstrip("/")
        self.fixtures_path = fixtures_path
        self.restarts = 0
        self.down_s = 0.0
        self.pid: int | None = None

    async def start(self) -> None:
        """Check that it answers ``/healthz``; AuditServerError when it does not."""
        timeout = aiohttp.ClientTimeout(total=5.0)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.get(self.base_url + "/healthz") as resp:
                    if resp.status == 200:
                        return
                    raise AuditServerError(f"{self.base_url}/healthz answered {resp.status}")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise AuditServerError(f"{self.base_url} is not reachable ({exc})") from None

    def fixtures(self) -> dict[str, Any]:
        try:
            document: dict[str, Any] = json.loads(self.fixtures_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AuditServerError(f"{self.fixtures_path}: cannot read the fixtures ({exc})") from None
        return document

    async def kill_and_restart(self) -> None:
        raise AuditServerError("a server the audit did not start cannot be killed")

    async def stop(self) -> None:
        return None

    def kill_now(self) -> None:
        return None
