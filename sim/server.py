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

import heapq
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sim.calibration import Calibration, RequestKind

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


class FifoServer:
    """One event loop fed in time order; remembers when it becomes free between batches."""

    __slots__ = ("busy_s", "free_at", "requests")

    def __init__(self) -> None:
        self.free_at = -np.inf
        """Time the loop finishes all work handed to it so far."""
        self.busy_s = 0.0
        """Total service time handed to the loop."""
        self.requests = 0
        """Requests handed to the loop."""

    def process(self, arrivals: npt.ArrayLike, services: npt.ArrayLike) -> FloatArray:
        """Queue waits of requests arriving at `arrivals` (sorted ascending) needing `services` seconds."""
        a = np.asarray(arrivals, dtype=np.float64)
        s = np.asarray(services, dtype=np.float64)
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
        cost as much as the recursion on hundreds of millions of requests)."""
        if a.size == 0:
            return np.empty(0)
        w0 = max(0.0, self.free_at - float(a[0]))
        # P_n = S_0 + ... + S_{n-1} - (a_n - a_0); cumsum of services shifted by one.
        p = np.empty_like(a)
        p[0] = 0.0
        np.cumsum(s[:-1], out=p[1:])
        p -= a
        p += a[0]
        low = np.minimum.accumulate(p)
        np.minimum(low, -w0, out=low)
        waits = np.subtract(p, low, out=low)
        self.free_at = float(a[-1] + waits[-1] + s[-1])
        self.busy_s += float(s.sum())
        self.requests += int(a.size)
        return waits

    def process_merged(
        self,
        base_arrivals: FloatArray,
        base_services: FloatArray,
        extra_arrivals: FloatArray,
        extra_services: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """Waits of a sorted stream plus a few extra requests in any order, each returned in its input order.

        The sorted stream is the bulk (periodic polls); only the extras are sorted, then spliced in.
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


def waits_in_any_order(arrivals: FloatArray, services: FloatArray, *, chunk: int = 2_000_000) -> FloatArray:
    """Waits of jobs given in any order (one FIFO server), returned in the input order.

    Jobs are put in arrival order once and fed to the server in chunks, so memory stays bounded.
    """
    by_time = arrival_order(arrivals)
    waits = np.empty(arrivals.size)
    fifo = FifoServer()
    for start in range(0, arrivals.size, chunk):
        part = by_time[start : start + chunk]
        # arrival_order may leave sub-quantum inversions: clamp them so the recursion sees sorted times.
        waits[part] = fifo.process_trusted(np.maximum.accumulate(arrivals[part]), services[part])
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
    """Service times of the server's request kinds: calibrated means, or one forced deterministic time."""

    calibration: Calibration
    """Means per request kind and the distribution around them."""
    forced_ms: float | None = None
    """When set (--service-time-ms), every request takes exactly this long."""

    @property
    def deterministic(self) -> bool:
        """True when every request of a kind takes exactly its mean."""
        return self.forced_ms is not None or self.calibration.service_distribution == "deterministic"

    def mean(self, kind: RequestKind) -> float:
        """Mean service time of `kind`, seconds."""
        return self.forced_ms / 1000.0 if self.forced_ms is not None else self.calibration.service_s(kind)

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
