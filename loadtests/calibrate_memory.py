"""Server memory per open push connection, from the resident memory of the server process.

Reuses the server benchmark's pieces: the idle subscriber crowd of :mod:`reference_server.bench_push`
(its own process, so its memory is never the server's), :func:`~reference_server.bench_process.spawn` to
run it and :func:`~reference_server.bench_process.settled_rss` to read memory once it holds still.

The crowds are *stacked*: the server's settled memory is read with no crowd, with an SSE crowd held, then
with a WebSocket crowd held on top of it. Nothing is freed between readings, so the second crowd cannot
look cheaper by reusing memory the first gave back (which a calibration against an already-running server
could not avoid by restarting it).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from loadtests.calibrate_plan import Plan
from loadtests.calibrate_server import CalibrateError, Target
from reference_server.bench_http import ShapeError, push_targets
from reference_server.bench_process import ChildError, LineReader, settled_rss, spawn

__all__ = ["MemoryFigure", "MemorySettings", "measure_memory"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MemorySettings:
    """Crowd sizes and how long to wait for memory to settle."""

    connections: int = 1000
    """Idle connections per crowd (one SSE crowd, one WebSocket crowd)."""
    settle_pause_s: float = 1.0
    """Pause before reading memory, so pending frees land."""
    settle_max_s: float = 5.0
    """Longest wait for memory to hold still."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryFigure:
    """Server memory growth for one crowd."""

    kind: str
    """"sse" or "ws"."""
    opened: int
    """Connections that completed their handshake."""
    rss_before: int
    """Settled server RSS before this crowd, bytes."""
    rss_held: int
    """Settled server RSS with this crowd held, bytes."""

    @property
    def per_connection(self) -> float:
        """RSS growth per opened connection, bytes."""
        return (self.rss_held - self.rss_before) / self.opened if self.opened else float("nan")


def _crowd_argv(kind: str, target: Target, targets: Path, count: int) -> list[str]:
    return [
        sys.executable, "-m", "reference_server.bench_push", "--kind", kind, "--base-url", target.base_url,
        "--targets", str(targets), "--count", str(count), "--concurrency", "100",
        "--open-budget-s", "60", "--hold-s", "180",
    ]  # fmt: skip


@contextlib.contextmanager
def _crowd(kind: str, target: Target, targets: Path, count: int, workdir: Path) -> Iterator[int]:
    """Hold ``count`` idle ``kind`` connections; yields how many opened."""
    with spawn(
        f"calibrate {kind} crowd", _crowd_argv(kind, target, targets, count), workdir, pipe_io=True
    ) as c:
        reader = LineReader(c)
        deadline = time.monotonic() + 90.0
        while (line := reader.readline(deadline)) is not None and not line.startswith("ready"):
            pass
        if line is None:
            raise CalibrateError(f"the {kind} crowd did not report ready:\n{c.stderr_tail()}")
        opened, failed = (int(x) for x in line.split()[1:3])
        if failed:
            raise CalibrateError(f"{failed} of {count} {kind} connections failed:\n{c.stderr_tail()}")
        yield opened
        assert c.proc.stdin is not None
        c.proc.stdin.close()  # end-of-file: the crowd leaves
        close_by = time.monotonic() + 30.0
        while (line := reader.readline(close_by)) is not None and line != "closed":
            pass


def _targets_file(target: Target, plan: Plan, workdir: Path) -> Path:
    customers = [{"token": c.token, "orders": list(c.orders)} for c in plan.writers[:10]]
    try:
        return push_targets(target.base_url, {"customers": customers}, workdir / "push-targets.json")
    except ShapeError as exc:
        raise CalibrateError(str(exc)) from None


def measure_memory(target: Target, plan: Plan, workdir: Path, s: MemorySettings) -> list[MemoryFigure]:
    """RSS growth per idle SSE stream and per idle subscribed WebSocket (blocking; run it in a thread)."""
    targets = _targets_file(target, plan, workdir)

    def rss() -> int:
        return settled_rss(target.pid, pause_s=s.settle_pause_s, max_wait_s=s.settle_max_s)

    try:
        base = rss()
        with _crowd("sse", target, targets, s.connections, workdir) as sse_open:
            sse_held = rss()
            with _crowd("ws", target, targets, s.connections, workdir) as ws_open:
                ws_held = rss()
    except ChildError as exc:
        raise CalibrateError(str(exc)) from None
    return [
        MemoryFigure(kind="sse", opened=sse_open, rss_before=base, rss_held=sse_held),
        MemoryFigure(kind="ws", opened=ws_open, rss_before=sse_held, rss_held=ws_held),
    ]
