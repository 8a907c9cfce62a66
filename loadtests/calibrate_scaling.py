"""Connection scaling: what a 304 poll costs on a busy server process holding N keep-alive connections.

Every open connection leaves objects in the server (transport, protocol, parser, buffers, a keep-alive
timer), and a poller's requests arrive on its own connection, so a process holding thousands of pollers
answers each request with a larger working set. The measurement opens N connections (each warmed with one
request), then keeps a fixed number of requests in flight, each sent on the connection idle longest
(:class:`~loadtests.calibrate_http.Batch` ``in_flight``): the server's CPU per request at saturation.

On a shared machine that figure moves by half within seconds, with whatever else runs on the cores. So
each point alternates short windows of it with windows of the calibration's own ``orders_304`` batch (two
requests in flight on two connections): every saturation window lies between two reference windows, and
the point's factor is the median over the saturation windows of their CPU per request over the mean of
the two around them. It is the cost of the same request at N connections relative to the calibrated
figure, measured under the same conditions.

The requests are each customer's differential poll (``GET /api/orders`` with its ETag, answered 304),
connection i polling as customer i modulo the customers given.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from loadtests.calibrate_http import Batch, Budget, Sample, open_batch
from loadtests.calibrate_plan import Plan
from loadtests.calibrate_polls import not_modified_polls
from loadtests.calibrate_server import CpuClock, Target
from loadtests.fixtures import Customer

__all__ = ["ScalingPoint", "ScalingSettings", "measure_scaling"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScalingSettings:
    """Which connection counts are measured, and how hard."""

    connections: tuple[int, ...] = (100, 5000)
    """Open keep-alive connections per point, ascending."""
    in_flight: int = 48
    """Requests outstanding at once: enough that the server's event loop never waits for the client."""
    windows: int = 5
    """Measuring windows per point, each between two reference windows (the factor is the median)."""
    cpu_s: float = 0.05
    """Server CPU to accumulate per window."""
    max_s: float = 1.0
    """Wall-clock cap per window (a busy machine reaches fewer requests)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScalingPoint:
    """CPU per request at saturation with some number of connections open, and alongside it the
    reference (2 requests in flight on 2 connections)."""

    connections: int
    """Keep-alive connections open and used in rotation."""
    windows: tuple[Sample, ...]
    """Every measuring window at saturation."""
    references: tuple[Sample, ...]
    """The reference windows around them (one more than ``windows``: before each, and after the last)."""

    @property
    def per_request_s(self) -> float:
        """Median over the windows of the server's CPU per request at saturation, seconds."""
        return float(statistics.median(w.per_unit_s for w in self.windows))

    @property
    def reference_s(self) -> float:
        """Median over the reference windows of the CPU per request, seconds."""
        return float(statistics.median(w.per_unit_s for w in self.references))

    @property
    def factor(self) -> float:
        """Median over the windows of saturation CPU / mean reference CPU around it, per request."""
        refs = [r.per_unit_s for r in self.references]
        around = [(a + b) / 2 for a, b in zip(refs, refs[1:], strict=False)]
        return float(statistics.median(w.per_unit_s / r for w, r in zip(self.windows, around, strict=True)))

    @property
    def total(self) -> Sample:
        """The saturation windows together (requests, CPU and wall time summed)."""
        ws = self.windows
        return Sample(kind=f"scaling_{self.connections}", count=sum(w.count for w in ws),
                      cpu_s=sum(w.cpu_s for w in ws), wall_s=sum(w.wall_s for w in ws))  # fmt: skip


Report = Callable[[ScalingPoint], None]


async def measure_scaling(
    target: Target,
    plan: Plan,
    clock: CpuClock,
    s: ScalingSettings,
    report: Report,
    customers: Sequence[Customer],
) -> list[ScalingPoint]:
    """CPU per 304 poll at each connection count (connections polling as ``customers``, round-robin),
    each against the reference: the reader's 304 poll with two in flight, as ``orders_304`` is measured."""
    requests = await not_modified_polls(target, customers, plan)
    (reader_poll,) = await not_modified_polls(target, [plan.reader], plan)
    budget = Budget(cpu_s=s.cpu_s, max_s=s.max_s)
    reference = Batch(kind="orders_304", requests=[reader_poll], expect=304, connections=2)
    points = []
    for n in s.connections:
        batch = Batch(kind=f"scaling_{n}", requests=requests, expect=304, connections=n,
                      in_flight=min(s.in_flight, n))  # fmt: skip
        windows: list[Sample] = []
        async with open_batch(target.host, target.port, batch) as crowd:
            async with open_batch(target.host, target.port, reference) as ref:
                # Closing the previous crowd costs the server CPU: let that pass before the first window.
                await asyncio.to_thread(clock.quiet)
                references = [await ref.measure(clock, budget)]
                for _ in range(s.windows):
                    windows.append(await crowd.measure(clock, budget))
                    references.append(await ref.measure(clock, budget))
        points.append(ScalingPoint(connections=n, windows=tuple(windows), references=tuple(references)))
        report(points[-1])
    return points
