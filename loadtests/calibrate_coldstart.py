"""Cold start: the extra CPU a request costs when it finds the server's event loop idle.

While a process waits, whatever else runs on its core (the load generator, other services) takes the
CPU's caches and TLB; the next request pays to bring its working set back. One connection sends one
request at a time (the reader's 304 poll), each an idle gap g after the previous answer arrived, at
several gaps in interleaved rounds; the server's CPU per request at gap g, less the back-to-back figure
(gap 0, same client), is the penalty. :func:`fit_cold_start` fits ``max * (1 - exp(-g / tau))`` to it.

The client is a blocking socket in a thread: ``time.sleep`` keeps gaps well below a millisecond (the
event loop's timers have millisecond steps), and each gap is timed, so the fit uses the gaps that really
happened (the server's idle time is that plus a few tens of microseconds of loopback).
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from loadtests.calibrate_server import CalibrateError

__all__ = ["ColdStartSettings", "GapSample", "fit_cold_start", "measure_cold_start", "penalties"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ColdStartSettings:
    """Which idle gaps are measured, and how long."""

    gaps_ms: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0, 30.0)
    """Idle gaps between an answer and the next request, milliseconds (gap 0 is always measured too)."""
    rounds: int = 3
    """Rounds over every gap (interleaved, so a change in the machine's load touches every gap alike)."""
    window_s: float = 0.3
    """Wall-clock time per gap per round."""
    max_requests: int = 600
    """Most requests per gap per round (bounds the back-to-back and short gaps)."""


@dataclass(slots=True)
class GapSample:
    """Requests sent after one asked-for idle gap, over every round (mutable while measuring)."""

    gap_ms: float
    """Gap asked for, milliseconds."""
    count: int = 0
    """Requests answered."""
    cpu_s: float = 0.0
    """Server CPU they cost, seconds."""
    idle_s: float = 0.0
    """Sum of the gaps that really passed before them (client side), seconds."""
    wall_s: float = 0.0
    """Wall-clock time, seconds."""

    @property
    def per_request_s(self) -> float:
        """Server CPU per request, seconds."""
        return self.cpu_s / self.count if self.count else float("nan")

    @property
    def mean_gap_ms(self) -> float:
        """Mean gap that really passed, milliseconds."""
        return 1000.0 * self.idle_s / self.count if self.count else float("nan")


def _read_head(sock: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise CalibrateError("the server closed the cold-start connection")
        data += chunk
    if data[9:12] != b"304":
        raise CalibrateError(f"cold start: expected HTTP 304, got {data[:120]!r}")


def _window(sock: socket.socket, request: bytes, clock: Callable[[], float], s: GapSample,
            window_s: float, max_requests: int) -> None:  # fmt: skip
    """Requests after gap ``s.gap_ms`` for ``window_s``; adds what they cost to ``s``."""
    gap_s = s.gap_ms / 1000.0
    sock.sendall(request)  # not counted: only requests sent after a timed gap are
    _read_head(sock)
    cpu0, started = clock(), time.perf_counter()
    answered, count, idle = started, 0, 0.0
    while count < max_requests and answered - started < window_s:
        if gap_s > 0:
            time.sleep(gap_s)
        sent = time.perf_counter()
        sock.sendall(request)
        _read_head(sock)
        idle += sent - answered
        answered = time.perf_counter()
        count += 1
    s.cpu_s += clock() - cpu0
    s.count += count
    s.idle_s += idle
    s.wall_s += answered - started


def measure_cold_start(
    host: str, port: int, request: bytes, clock: Callable[[], float], s: ColdStartSettings,
    progress: Callable[[int], None] | None = None,
) -> list[GapSample]:  # fmt: skip
    """CPU per request after each idle gap (gap 0 first); blocking, run it in a thread."""
    samples = [GapSample(gap_ms=g) for g in (0.0, *s.gaps_ms)]
    try:
        sock = socket.create_connection((host, port), timeout=10.0)
    except OSError as exc:
        raise CalibrateError(f"cannot connect to {host}:{port}: {exc}") from None
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for r in range(s.rounds):
            # Alternate the order, so no gap always follows the longest one.
            for sample in samples if r % 2 == 0 else samples[::-1]:
                _window(sock, request, clock, sample, s.window_s, s.max_requests)
            if progress is not None:
                progress(r)
    except OSError as exc:
        raise CalibrateError(f"cold start: {exc}") from None
    finally:
        sock.close()
    return samples


def penalties(samples: Sequence[GapSample]) -> list[tuple[float, float]]:
    """(mean gap ms, extra CPU ms per request over the back-to-back sample) for every gap but 0."""
    base = samples[0].per_request_s
    return [(s.mean_gap_ms, 1000.0 * (s.per_request_s - base)) for s in samples[1:] if s.count]


def _best_max(g: np.ndarray, p: np.ndarray, tau: float) -> tuple[float, float]:
    """For a fixed tau, the least-squares max (>= 0) and the residual sum of squares."""
    x = -np.expm1(-g / tau)
    m = max(0.0, float(x @ p) / float(x @ x))
    r = p - m * x
    return m, float(r @ r)


def fit_cold_start(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares ``(max_ms, tau_ms)`` of ``penalty = max * (1 - exp(-gap / tau))`` over (gap ms,
    penalty ms) points; max is clamped to >= 0 (and tau is then 1 ms: no penalty, no time scale).

    For a given tau the best max is linear least squares; tau is searched on a log grid over
    [0.01, 10 000] ms, then refined by golden-section search around the best grid point.
    """
    g = np.array([pt[0] for pt in points], dtype=np.float64)
    p = np.array([pt[1] for pt in points], dtype=np.float64)
    if len(g) == 0 or not np.all(np.isfinite(g) & np.isfinite(p)) or np.all(g <= 0):
        return 0.0, 1.0
    grid = np.logspace(-2, 4, 241)
    sse = [_best_max(g, p, t)[1] for t in grid]
    i = int(np.argmin(sse))
    lo, hi = math.log(grid[max(i - 1, 0)]), math.log(grid[min(i + 1, len(grid) - 1)])
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    for _ in range(80):
        if _best_max(g, p, math.exp(a))[1] < _best_max(g, p, math.exp(b))[1]:
            hi, b = b, a
            a = hi - ratio * (hi - lo)
        else:
            lo, a = a, b
            b = lo + ratio * (hi - lo)
    tau = math.exp((lo + hi) / 2)
    m, _sse = _best_max(g, p, tau)
    return (m, tau) if m > 0 else (0.0, 1.0)
