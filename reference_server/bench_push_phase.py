"""What an idle push connection costs a server: hold a crowd of subscribers, read the server's memory.

The server's resident memory is read once it has settled with no crowd (the baseline), the crowd of
:mod:`reference_server.bench_push` is opened from a separate process, the memory is read again once it has
settled with the crowd held, and the difference is divided by the connections actually opened. The crowd
is then closed and the memory read a third time: what the server does not give back (allocator arenas kept
for reuse) is reported as ``retained``, because a following crowd on the same server reuses it and would
look cheaper than it is.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from reference_server.bench_process import Child, ChildError, LineReader, settled_rss, spawn

__all__ = ["PUSH_TARGET_BYTES", "PushFigure", "PushSettings", "measure_push"]

PUSH_TARGET_BYTES = 16 * 1024
"""Target: server memory per idle push connection on the reference server."""


class PushSettings(Protocol):
    """The parts of the benchmark's config a push measurement reads."""

    @property
    def handshake_concurrency(self) -> int: ...
    @property
    def settle_pause_s(self) -> float: ...
    @property
    def settle_max_s(self) -> float: ...


class _Observer(Protocol):
    def detail(self, text: str) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PushFigure:
    """The memory one crowd of idle subscribers cost one server."""

    server: str
    """"reference" or "bare" (aiohttp with do-nothing handlers)."""
    kind: str
    """"sse" or "ws"."""
    requested: int
    """connections the crowd tried to open."""
    opened: int
    """connections that completed their handshake (SSE 200 / WebSocket ``subscribed``)."""
    failed: int
    """handshakes that failed or timed out."""
    open_s: float
    """seconds to open the whole crowd."""
    rss_before: int
    """server RSS before the crowd, bytes (settled)."""
    rss_held: int
    """server RSS with the crowd held, bytes (settled)."""
    rss_after: int
    """server RSS after the crowd left, bytes (settled)."""

    @property
    def per_connection(self) -> float:
        """RSS growth per opened connection, bytes."""
        return (self.rss_held - self.rss_before) / self.opened if self.opened else float("nan")

    @property
    def retained(self) -> int:
        """RSS still held after the crowd left, bytes."""
        return self.rss_after - self.rss_before

    @property
    def passed(self) -> bool | None:
        """Target met (reference server only; the bare floor has no target). Failing handshakes fail it."""
        if self.server != "reference":
            return None
        return self.failed == 0 and self.opened > 0 and self.per_connection <= PUSH_TARGET_BYTES

    def to_dict(self) -> dict[str, Any]:
        return {
            "server": self.server, "kind": self.kind, "requested": self.requested, "opened": self.opened,
            "failed": self.failed, "open_s": self.open_s, "rss_before": self.rss_before,
            "rss_held": self.rss_held, "rss_after": self.rss_after,
            "per_connection_bytes": self.per_connection, "retained_bytes": self.retained,
            "target_bytes": PUSH_TARGET_BYTES if self.server == "reference" else None, "passed": self.passed,
        }  # fmt: skip


def _client_argv(
    kind: str, base_url: str, count: int, targets: Path, concurrency: int, budget: float
) -> list[str]:
    return [
        sys.executable, "-m", "reference_server.bench_push", "--kind", kind, "--base-url", base_url,
        "--targets", str(targets), "--count", str(count), "--concurrency", str(concurrency),
        "--open-budget-s", f"{budget:.0f}",
        # the crowd closes itself even if this process dies without closing its stdin
        "--hold-s", f"{budget + 120:.0f}",
    ]  # fmt: skip


def _open_budget(count: int) -> float:
    # Opening runs at a few thousand per second here; allow ten times slower before giving up.
    return 30.0 + count / 100.0


def _await_ready(
    reader: LineReader, client: Child, server: Child, budget: float, obs: _Observer
) -> tuple[int, int]:
    deadline = time.monotonic() + budget + 30.0
    while True:
        line = reader.readline(deadline)
        if line is None:
            client.ensure_alive()
            raise ChildError(f"the {client.name} did not report ready within {budget + 30:.0f} s")
        word, *numbers = line.split()
        if word in ("progress", "ready"):
            opened, failed = int(numbers[0]), int(numbers[1])
            obs.detail(f"{opened:,} open, {failed:,} failed")
            server.ensure_alive()
            if word == "ready":
                return opened, failed


def _close_crowd(reader: LineReader, client: Child) -> None:
    assert client.proc.stdin is not None
    client.proc.stdin.close()  # end-of-file tells the crowd to leave
    deadline = time.monotonic() + 30.0
    while (line := reader.readline(deadline)) is not None and line != "closed":
        pass
    client.proc.wait(timeout=max(1.0, deadline - time.monotonic()))


def measure_push(
    cfg: PushSettings, server: Child, base_url: str, server_name: str, kind: str, count: int,
    targets: Path, workdir: Path, obs: _Observer,
) -> PushFigure:  # fmt: skip
    """Hold ``count`` idle ``kind`` subscribers against ``server`` and return its memory figures."""
    pid = server.proc.pid
    before = settled_rss(pid, pause_s=cfg.settle_pause_s, max_wait_s=cfg.settle_max_s)
    budget = _open_budget(count)
    argv = _client_argv(kind, base_url, count, targets, cfg.handshake_concurrency, budget)
    with spawn(f"{kind} clients", argv, workdir, pipe_io=True) as client:
        reader = LineReader(client)
        started = time.monotonic()
        opened, failed = _await_ready(reader, client, server, budget, obs)
        open_s = time.monotonic() - started
        obs.detail(f"{opened:,} open; waiting for the server's memory to settle")
        held = settled_rss(pid, pause_s=cfg.settle_pause_s, max_wait_s=cfg.settle_max_s)
        server.ensure_alive()
        _close_crowd(reader, client)
    after = settled_rss(pid, pause_s=cfg.settle_pause_s, max_wait_s=cfg.settle_max_s)
    return PushFigure(
        server=server_name, kind=kind, requested=count, opened=opened, failed=failed, open_s=open_s,
        rss_before=before, rss_held=held, rss_after=after,
    )  # fmt: skip
