"""The server: each process is one event loop, i.e. one FIFO single server that requests queue for.

A request arriving at time a_n waits W_n for the loop to finish the work ahead of it, then holds the loop
for its service time S_n. Lindley's recursion gives every wait from the previous one,

    W_{n+1} = max(0, W_n + S_n - (a_{n+1} - a_n)),

and unrolls into prefix sums: with P_n = sum_{j<n} S_j - (a_n - a_0), W_n = P_n - min(-W_0, min_{k<=n} P_k).
That form is two numpy scans, so a million requests cost milliseconds. :class:`FifoServer` keeps the time the
loop becomes free between calls, so a long run is fed in time windows without holding it all in memory.

:func:`shared_queue_waits` is the textbook variant where c servers share one queue (M/M/c); pollbench's
processes each own their clients' connections, so the model itself uses c independent FIFO servers.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sim.calibration import Calibration, ColdStart, RequestKind

__all__ = [
    "FifoServer",
    "ServiceModel",
    "arrival_order",
    "fifo_waits",
    "waits_in_any_order",
    "shared_queue_waits",
]

FloatArray = npt.NDArray[np.float64]
_BLOCK = 1 << 20
"""Elements per block when a full-size temporary is avoided by working block by block."""
COLD_START_PASSES = 40
"""Most vectorised passes of the cold-start recursion over busy periods; what still moves is then stepped."""
COLD_START_SETTLED_S = 1e-15
"""A busy period's delay that moves less than this between passes has settled."""


def _head_delays(gap: FloatArray, cold: ColdStart, quota: float) -> FloatArray:
    """D_i of :meth:`FifoServer._with_cold_start`: how much later each penalty-free busy period ends.

    D_i = max(0, D_{i-1} - g_i) + penalty(g_i - D_{i-1}) / quota, D_{-1} = 0. Vectorised passes recompute
    only the periods whose predecessor moved in the pass before (a change dies out within a few links
    where gaps are long against tau); a chain still moving after that is stepped head by head.
    """
    # The first pass from D = 0: every head found the penalty-free loop idle (g >= 0).
    d = np.where(gap > 0, cold.penalty_s(gap) / quota, 0.0)
    active = np.arange(1, gap.size)
    for k in range(COLD_START_PASSES):
        if active.size == 0:
            return d
        x = gap[active] - d[active - 1]
        new = np.where(x > 0, cold.penalty_s(x) / quota, -x)  # penalty_s clips x at 0
        moved = np.abs(new - d[active]) > COLD_START_SETTLED_S
        d[active] = new
        shrinking = active.size
        active = active[moved] + 1
        active = active[active < gap.size]
        if k > 0 and active.size > 0.7 * shrinking:
            break  # long chains of short gaps (penalty' near or above 1): quicker stepped than passed
    if active.size == 0:
        return d
    first = int(active[0])
    # Stepped head by head from the first period still moving (everything before it has settled), with
    # ColdStart.penalty_s inlined for plain floats: a numpy call per head would cost ten times as much.
    out = d[:first].tolist()
    push, expm1 = out.append, math.expm1
    last = out[-1] if out else 0.0
    scale, rate = -cold.max_ms / 1000.0 / quota, -1000.0 / cold.tau_ms
    for g in gap[first:].tolist():
        x = g - last
        last = scale * expm1(x * rate) if x > 0 else -x
        push(last)
    return np.array(out)


def _lindley(a: FloatArray, s: FloatArray, w0: float) -> FloatArray:
    """Waits of jobs arriving at sorted `a` needing `s`, the first waiting `w0` (two numpy scans)."""
    # P_n = S_0 + ... + S_{n-1} - (a_n - a_0); cumsum of services shifted by one.
    p = np.empty_like(a)
    p[0] = 0.0
    np.cumsum(s[:-1], out=p[1:])
    p -= a
    p += a[0]
    low = np.minimum.accumulate(p)
    np.minimum(low, -w0, out=low)
    return np.subtract(p, low, out=low)


class FifoServer:
    """One event loop fed in time order; remembers when it becomes free between batches.

    With a cold-start model, a job that finds the loop idle after a gap g costs ``cold_start.penalty_s(g)``
    more, at the process's CPU share (÷ `quota`); see :meth:`process_trusted`.
    """

    __slots__ = ("busy_s", "cold_start", "exposure_s2", "free_at", "penalty_s", "quota", "requests")

    def __init__(
        self, *, cold_start: ColdStart | None = None, quota: float = 1.0, free_at: float = -np.inf
    ) -> None:
        self.free_at = free_at
        """Time the loop finishes all work handed to it so far."""
        self.busy_s = 0.0
        """Total service time handed to the loop (cold-start penalties included)."""
        self.requests = 0
        """Requests handed to the loop."""
        self.cold_start = cold_start if cold_start is not None and cold_start.max_ms > 0 else None
        """Extra CPU of a job that finds the loop idle; None: no penalty (and no extra work)."""
        self.quota = quota
        """Share of a core the process runs at: CPU seconds take 1/quota seconds of the loop."""
        self.penalty_s = 0.0
        """Cold-start penalties handed to the loop so far (part of busy_s)."""
        self.exposure_s2 = 0.0
        """Penalty integrated over the loop's idle time (s²): a job arriving at a uniformly random moment,
        outside the queue model, pays ``exposure_s2 / duration`` on average (see :meth:`close`)."""

    def process(self, arrivals: npt.ArrayLike, services: npt.ArrayLike) -> FloatArray:
        """Queue waits of requests arriving at `arrivals` (sorted ascending) needing `services` seconds."""
        a = np.asarray(arrivals, dtype=np.float64)
        s = np.array(services, dtype=np.float64)
        if a.shape != s.shape or a.ndim != 1:
            raise ValueError(f"arrivals {a.shape} and services {s.shape} must be 1-D arrays of equal length")
        if a.size == 0:
            return np.empty(0)
        if a.size > 1 and np.any(np.diff(a) < 0):
            raise ValueError("arrival times must be sorted ascending")
        if np.any(s < 0):
            raise ValueError("service times must be >= 0")
        return self.process_trusted(a, s)

    def process_trusted(self, a: FloatArray, s: FloatArray) -> FloatArray:
        """:meth:`process` for float64 arrays the caller built sorted and non-negative (no checks: the checks
        cost as much as the recursion on hundreds of millions of requests).

        With a cold-start model the penalty of each job that found the loop idle is added to `s` **in
        place**, so the caller's service times are what the loop spent (its busy time, the answers' times).
        """
        if a.size == 0:
            return np.empty(0)
        w0 = max(0.0, self.free_at - float(a[0]))
        if self.cold_start is None:
            waits = _lindley(a, s, w0)
        else:
            waits = self._with_cold_start(a, s, w0)
        self.free_at = float(a[-1] + waits[-1] + s[-1])
        self.busy_s += float(s.sum())
        self.requests += int(a.size)
        return waits

    def _with_cold_start(self, a: FloatArray, s: FloatArray, w0: float) -> FloatArray:
        """Waits with each idle arrival's penalty fed back into the queue, exactly.

        Penalties only delay the loop, so a job that waited without them still waits: only the jobs that
        open a busy period of the penalty-free queue (its *heads*) can find the loop idle. How much later
        than without penalties busy period i ends, D_i, then follows a scalar recursion over the heads: with
        g_i the head's penalty-free idle gap and x = g_i - D_{i-1}, the head pays penalty(x) when x > 0
        (D_i = penalty) and otherwise waits -x (D_i = -x). Every job of period i shifts by the head's wait,
        and the jobs behind the head also by its penalty. The recursion runs as a few vectorised passes
        (each makes one more link of every chain exact; a prefix that stops changing is exact), and a plain
        loop over the remaining heads where long chains of short gaps have not settled (a small CPU quota).
        """
        cold = self.cold_start
        assert cold is not None
        waits = _lindley(a, s, w0)
        is_head = waits == 0.0
        heads = np.flatnonzero(is_head)
        if heads.size == 0:
            return waits
        ends = a + waits + s  # penalty-free end of each job; a period ends with the job before the next head
        gap = np.empty(heads.size)
        gap[0] = a[heads[0]] - self.free_at
        gap[1:] = a[heads[1:]] - ends[heads[1:] - 1]
        later = _head_delays(gap, cold, self.quota)
        x = gap - np.r_[0.0, later[:-1]]
        idle = x > 0
        penalty = np.where(idle, later, 0.0)  # D_i is the penalty where the head found the loop idle
        # Every job of period i ends D_i later than without penalties (the head's wait plus its penalty);
        # the head itself only waits D_i - penalty.
        waits[heads[0] :] += np.repeat(later, np.diff(np.r_[heads, a.size]))
        waits[heads] -= penalty
        s[heads] += penalty
        self.penalty_s += float(penalty.sum())
        finite = idle & np.isfinite(x)
        self.exposure_s2 += float(cold.exposure_s2(x[finite]).sum()) / self.quota
        return waits

    def close(self, until: float) -> None:
        """Count the idle spell from the last job to `until` (the run's end) in :attr:`exposure_s2`."""
        if self.cold_start is not None and np.isfinite(self.free_at) and until > self.free_at:
            self.exposure_s2 += float(self.cold_start.exposure_s2(until - self.free_at)) / self.quota

    def process_merged(
        self,
        base_arrivals: FloatArray,
        base_services: FloatArray,
        extra_arrivals: FloatArray,
        extra_services: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """Waits of a sorted stream plus a few extra requests in any order, each returned in its input order.

        The sorted stream is the bulk (periodic polls); only the extras are sorted, then spliced in.
        Cold-start penalties are added to both service arrays in place, as in :meth:`process_trusted`.
        """
        if extra_arrivals.size == 0:
            return self.process_trusted(base_arrivals, base_services), np.empty(0)
        by_time = np.argsort(extra_arrivals, kind="stable")
        ea = extra_arrivals[by_time]
        # Extras go after base requests arriving at the same instant.
        spot = np.searchsorted(base_arrivals, ea, side="right") + np.arange(ea.size)
        total = base_arrivals.size + ea.size
        is_base = np.ones(total, dtype=bool)
        is_base[spot] = False
        arrivals = np.empty(total)
        services = np.empty(total)
        arrivals[is_base] = base_arrivals
        arrivals[spot] = ea
        services[is_base] = base_services
        services[spot] = extra_services[by_time]
        waits = self.process_trusted(arrivals, services)
        if self.cold_start is not None:
            base_services[:] = services[is_base]
            extra_services[by_time] = services[spot]
        extra_waits = np.empty(ea.size)
        extra_waits[by_time] = waits[spot]
        return waits[is_base], extra_waits


def arrival_order(times: FloatArray) -> npt.NDArray[np.int64]:
    """Permutation putting non-negative `times` in ascending order, ties by position.

    Sorting int64 keys (quantised time in the high bits, position in the low bits) is markedly faster than
    ``argsort`` for tens of millions of jobs. Times closer than the quantum (about 30 ns for an hour and 50 M
    jobs) may come out in position order; callers clamp with ``np.maximum.accumulate``.
    """
    n = int(times.size)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    index_bits = max(1, n.bit_length())
    scale = float((1 << (63 - index_bits)) - 1) / (float(times.max()) + 1e-9)
    # Built in place (the cast happens in the ufunc's buffer, positions are or-ed in by block): at 10^8 jobs
    # every full-size temporary is ~1 GB of fresh pages, and first touches cost more than the arithmetic.
    keys = np.empty(n, dtype=np.int64)
    np.multiply(times, scale, out=keys, casting="unsafe")
    keys <<= index_bits
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        keys[lo:hi] |= np.arange(lo, hi, dtype=np.int64)
    keys.sort()
    keys &= (1 << index_bits) - 1
    return keys


def waits_in_any_order(
    arrivals: FloatArray, services: FloatArray, *, chunk: int = 2_000_000, fifo: FifoServer | None = None
) -> FloatArray:
    """Waits of jobs given in any order (one FIFO server, `fifo` or a fresh one), in the input order.

    Jobs are put in arrival order once and fed to the server in chunks, so memory stays bounded. Cold-start
    penalties are added to `services` in place.
    """
    by_time = arrival_order(arrivals)
    waits = np.empty(arrivals.size)
    fifo = fifo if fifo is not None else FifoServer()
    for start in range(0, arrivals.size, chunk):
        part = by_time[start : start + chunk]
        srv = services[part]
        # arrival_order may leave sub-quantum inversions: clamp them so the recursion sees sorted times.
        waits[part] = fifo.process_trusted(np.maximum.accumulate(arrivals[part]), srv)
        if fifo.cold_start is not None:
            services[part] = srv
    return waits


def fifo_waits(arrival_times: npt.ArrayLike, service_times: npt.ArrayLike) -> FloatArray:
    """Waits in queue of a single FIFO server starting empty (Lindley's recursion, vectorised)."""
    return FifoServer().process(arrival_times, service_times)


def shared_queue_waits(
    arrival_times: npt.ArrayLike, service_times: npt.ArrayLike, servers: int
) -> FloatArray:
    """Waits of c identical servers sharing one FIFO queue (M/M/c when inputs are Poisson/exponential).

    Each request goes to the server that frees first (Kiefer-Wolfowitz workload vector); O(n log c).
    """
    if isinstance(servers, bool) or not isinstance(servers, int) or servers < 1:
        raise ValueError(f"servers must be a whole number >= 1, got {servers!r}")
    a = np.asarray(arrival_times, dtype=np.float64)
    s = np.asarray(service_times, dtype=np.float64)
    if a.shape != s.shape or a.ndim != 1:
        raise ValueError(f"arrivals {a.shape} and services {s.shape} must be 1-D arrays of equal length")
    if a.size > 1 and np.any(np.diff(a) < 0):
        raise ValueError("arrival times must be sorted ascending")
    free = [-np.inf] * servers
    waits = np.empty_like(a)
    for n, (arrive, work) in enumerate(zip(a.tolist(), s.tolist(), strict=True)):
        earliest = heapq.heappop(free)
        start = max(arrive, earliest)
        waits[n] = start - arrive
        heapq.heappush(free, start + work)
    return waits


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceModel:
    """Service times of the server's request kinds: calibrated means, or one forced deterministic time.

    One process's model (:meth:`on_process`) also carries how fast that process runs: every service time is
    multiplied by the connection factor of the connections it holds and divided by its CPU quota.
    """

    calibration: Calibration
    """Means per request kind and the distribution around them."""
    forced_ms: float | None = None
    """When set (--service-time-ms), every request takes exactly this long (before `scale`)."""
    connection_factor: float = 1.0
    """``calibration.connection_scaling.factor(open connections)`` of the process."""
    quota: float = 1.0
    """Share of one core the process may use (0 < Q <= 1): a CPU second takes 1/Q seconds of the loop."""

    @property
    def scale(self) -> float:
        """Factor on every calibrated (or forced) service time: connection factor / quota."""
        return self.connection_factor / self.quota

    def on_process(self, *, connections: float, quota: float | None) -> ServiceModel:
        """This model for a process holding `connections` under CPU quota `quota` (None: a whole core)."""
        factor = self.calibration.connection_scaling.factor(connections)
        return dataclasses.replace(self, connection_factor=factor, quota=1.0 if quota is None else quota)

    def fifo(self) -> FifoServer:
        """The process's event loop, idle at the run's start, paying the calibrated cold start (÷ quota)."""
        return FifoServer(cold_start=self.calibration.cold_start, quota=self.quota, free_at=0.0)

    @property
    def deterministic(self) -> bool:
        """True when every request of a kind takes exactly its mean."""
        return self.forced_ms is not None or self.calibration.service_distribution == "deterministic"

    def mean(self, kind: RequestKind) -> float:
        """Mean service time of `kind` on this process, seconds."""
        base = self.forced_ms / 1000.0 if self.forced_ms is not None else self.calibration.service_s(kind)
        return base * self.scale

    def draw(self, rng: np.random.Generator, means: npt.ArrayLike) -> FloatArray:
        """One service time per entry of `means` (seconds): exponential around it, or exactly it."""
        m = np.asarray(means, dtype=np.float64)
        if self.deterministic:
            return np.array(m, dtype=np.float64)
        return rng.standard_exponential(m.shape) * m

    def draw_indexed(
        self, rng: np.random.Generator, means: FloatArray, which: npt.NDArray[np.integer[Any]]
    ) -> FloatArray:
        """:meth:`draw` of ``means[which]`` (same numbers) without building the full array of means first."""
        if self.deterministic:
            picked: FloatArray = np.asarray(means, dtype=np.float64)[which]
            return picked
        out = rng.standard_exponential(which.shape)
        for lo in range(0, out.size, _BLOCK):
            out[lo : lo + _BLOCK] *= means[which[lo : lo + _BLOCK]]
        return out

    def draw_kind(
        self, rng: np.random.Generator, kind: RequestKind, size: int | tuple[int, ...]
    ) -> FloatArray:
        """`size` service times of one kind, seconds."""
        mean = self.mean(kind)
        if self.deterministic:
            return np.full(size, mean)
        return rng.standard_exponential(size) * mean
