"""What a calibration produced: the simulator's constants, every CPU sample behind them, and provenance.

The JSON written by :meth:`CalibrationResult.to_json` is exactly what ``pollbench simulate --calibration``
reads (:func:`sim.calibration.load_calibration`), plus a ``meta`` object recording when, where and how it
was measured, the sample behind every figure and anything the reader should know (``meta.notes``).
"""

from __future__ import annotations

import datetime
import json
import math
import platform
import statistics
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from loadtests.calibrate_coldstart import GapSample, fit_cold_start, penalties
from loadtests.calibrate_http import Sample
from loadtests.calibrate_memory import IdleServer, MemoryFigure
from loadtests.calibrate_scaling import ScalingPoint
from loadtests.calibrate_server import CalibrateError, CpuClock, Target
from sim.calibration import Calibration, ColdStart, ConnectionScaling, ServiceTimes, WireBytes

__all__ = ["CalibrationResult", "Measurements", "build_result"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurements:
    """Everything a calibration measured, as it came from the measurements."""

    samples: dict[str, Sample]
    """Service-time samples by kind."""
    wire: dict[str, int]
    """Wire bytes (:class:`sim.calibration.WireBytes` fields)."""
    memory: list[MemoryFigure]
    """RSS growth of the idle crowds (keep-alive, SSE, WebSocket)."""
    keepalive_cpu_per_s: float
    """Server CPU per second while it held the idle keep-alive crowd."""
    idle: IdleServer
    """The server before any load: memory, descriptors, their limit, CPU per second."""
    scaling: list[ScalingPoint]
    """CPU per 304 poll at saturation per number of open connections."""
    scaling_customers: int
    """Customers the scaling connections were spread over (round-robin)."""
    cold_start: list[GapSample]
    """CPU per request after each idle gap (gap 0 first)."""
    push_latency_ms: list[float]
    """Receive time less ``createdAt`` of messages posted one at a time to an idle server."""
    distinct_since: int
    """Distinct since-polls behind the ``since`` sample."""
    clock: CpuClock
    """The clock the CPU samples were read with."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CalibrationResult:
    """What a calibration measured: the simulator's constants and where they came from."""

    calibration: Calibration
    """Service times, wire bytes and memory per connection, ready for the simulator."""
    samples: dict[str, Sample]
    """Every CPU measurement by kind (requests, CPU seconds, wall seconds)."""
    meta: dict[str, Any]
    """Date, host, target, settings, notes; also stored as ``meta`` in the JSON."""

    @property
    def noop_s(self) -> float:
        """Machine reference: server CPU seconds per ``GET /bench/noop`` on this machine."""
        return self.samples["noop"].per_unit_s

    def to_json(self) -> str:
        """The calibration file ``pollbench simulate --calibration`` reads."""
        data = self.calibration.to_dict()
        data["meta"] = self.meta
        return json.dumps(data, indent=2) + "\n"


def _ms(sample: Sample) -> float:
    if sample.count == 0 or sample.cpu_s <= 0:
        raise CalibrateError(
            f"{sample.kind}: no server CPU was seen ({sample.count} units); the machine may be too busy, "
            "try again"
        )
    return round(sample.per_unit_s * 1000.0, 5)


def _service(samples: dict[str, Sample], heartbeat: bool) -> ServiceTimes:
    direct = ("orders_304", "orders_200", "since", "since_empty", "full_messages", "post",
              "longpoll_register", "longpoll_timeout", "ping")  # fmt: skip
    values = {k: _ms(samples[k]) for k in direct}
    values["longpoll_reply"] = _ms(samples["longpoll_woken"])
    values["push"] = round((_ms(samples["push_sse"]) + _ms(samples["push_ws"])) / 2, 5)
    if heartbeat:
        values["heartbeat"] = _ms(samples["heartbeat"])
    return ServiceTimes(**values)


def _clock_note(clock: CpuClock) -> str:
    if clock.source == "schedstat":
        return "nanosecond runtime of every thread, /proc/PID/task/*/schedstat"
    return f"psutil, {clock.resolution_s * 1000:.0f} ms ticks"


def _notes(target: Target, m: Measurements, cpu_target_s: float) -> list[str]:
    samples, clock = m.samples, m.clock
    notes = [
        "service_ms = server-process CPU (user+system, all threads) per request "
        f"({_clock_note(clock)}); longpoll_reply is the woken reply (immediate: meta.samples)",
        "push = mean of SSE and WebSocket per-delivery cost (both in meta.samples)",
        "full_messages is a repeat poll of an unchanged order, served from the server's ETag body cache",
    ]
    if not target.spawned:
        notes.append(
            "heartbeat not measured against an external server (its interval is too long); default kept"
        )
        notes.append("sse_heartbeat bytes not measured against an external server; default kept")
    if samples["since"].count > m.distinct_since:
        notes.append(f"only {m.distinct_since} distinct since-polls for {samples['since'].count} requests: "
                     "repeats were body-cache hits")  # fmt: skip
    aimed = clock.resolution_s / cpu_target_s
    if aimed > 0.02:
        notes.append(f"samples sized for a {clock.resolution_s * 1000:.0f} ms tick to be {aimed:.0%} of each "
                     "figure (--quick); the default run aims at 2 %")  # fmt: skip
    # A little over the aim is one tick of rounding; list what is clearly coarser.
    limit = max(0.02, aimed) * 1.1
    coarse = [k for k, s in samples.items() if s.resolution_share(clock.resolution_s) > limit]
    if coarse:
        notes.append(f"coarser than aimed (resolution share, see meta.samples): {', '.join(sorted(coarse))}")
    return notes


def _capacity_notes(m: Measurements, in_flight: int) -> list[str]:
    notes = [
        f"connection_scaling: CPU per 304 poll at saturation ({in_flight} in flight) with N keep-alive "
        "connections open and used in rotation, over the orders_304 batch (2 in flight) measured in "
        "alternate windows alongside it (median of the window ratios; against the calibrated orders_304 "
        "itself in meta.connection_scaling); the connections share "
        f"{m.scaling_customers} customers round-robin (distinct customers per connection made no "
        "difference beyond the noise: docs/calibration.md)",
        "cold_start: max*(1-exp(-g/tau)) fitted to CPU per request after an idle gap g (one connection, "
        "one request in flight, gaps timed on the client) less the back-to-back figure (meta.cold_start)",
        "commit_ms: median of (SSE receive time - createdAt) over messages posted one at a time to the "
        "idle server, less service_ms.push; createdAt is truncated to 1 ms, on purpose (the load tests "
        "time deliveries the same way)",
        "memory_per_keepalive_bytes: RSS growth per idle keep-alive connection that made one 304 poll; "
        "idle crowd CPU per second in meta.memory.keepalive",
        "baseline_rss_bytes, fd_limit, fd_reserve: the idle server's RSS, soft 'Max open files' "
        "(/proc/PID/limits) and descriptors held (/proc/PID/fd), read before any load",
    ]
    if m.idle.fd_limit is None:
        notes.append("fd_limit unreadable or unlimited: the simulator uses this machine's limit")
    if m.idle.fds is None:
        notes.append("fd_reserve: /proc/PID/fd unreadable; default kept")
    return notes


def _factors(points: list[ScalingPoint]) -> ConnectionScaling:
    return ConnectionScaling(points=tuple((p.connections, round(p.factor, 4)) for p in points))


def _commit_ms(latencies_ms: list[float], push_ms: float) -> float:
    if not latencies_ms:
        raise CalibrateError("no message reached its subscriber: commit time not measured")
    return round(max(0.0, statistics.median(latencies_ms) - push_ms), 4)


def _capacity_fields(m: Measurements, service: ServiceTimes) -> dict[str, Any]:
    """The fields that bound how many clients one process holds, from their measurements."""
    max_ms, tau_ms = fit_cold_start(penalties(m.cold_start))
    keepalive = next(f for f in m.memory if f.kind == "keepalive")
    return {
        "connection_scaling": _factors(m.scaling),
        "cold_start": ColdStart(max_ms=round(max_ms, 5), tau_ms=round(tau_ms, 4)),
        "commit_ms": _commit_ms(m.push_latency_ms, service.push),
        "memory_per_keepalive_bytes": max(1, round(keepalive.per_connection)),
        "baseline_rss_bytes": m.idle.rss_bytes,
        "fd_limit": m.idle.fd_limit,
        **({"fd_reserve": m.idle.fds} if m.idle.fds else {}),
    }


def _round_list(values: list[float], digits: int = 3) -> list[float]:
    return [round(v, digits) for v in values]


def _capacity_meta(m: Measurements, c: Calibration) -> dict[str, Any]:
    orders_304_us = c.service_ms.orders_304 * 1000.0
    base = m.cold_start[0].per_request_s
    fitted = c.cold_start.penalty_s(np.array([g.mean_gap_ms / 1000.0 for g in m.cold_start[1:]]))
    lat = np.asarray(m.push_latency_ms, dtype=np.float64)
    return {
        "connection_scaling": {
            "orders_304_us": round(orders_304_us, 2),
            "customers": m.scaling_customers,
            "points": [
                {
                    "connections": p.connections,
                    "factor": round(p.factor, 4),
                    "us_per_request": round(p.per_request_s * 1e6, 2),
                    "reference_us_per_request": round(p.reference_s * 1e6, 2),
                    "over_calibrated_orders_304": round(p.per_request_s * 1e6 / orders_304_us, 4),
                    "windows_us": _round_list([w.per_unit_s * 1e6 for w in p.windows], 1),
                    "reference_windows_us": _round_list([w.per_unit_s * 1e6 for w in p.references], 1),
                    "requests": p.total.count,
                    "cpu_s": round(p.total.cpu_s, 4),
                    "wall_s": round(p.total.wall_s, 3),
                }
                for p in m.scaling
            ],
        },
        "cold_start": {
            "back_to_back_us": round(base * 1e6, 2),
            "gaps": [
                {
                    "gap_ms": g.gap_ms,
                    "mean_gap_ms": round(g.mean_gap_ms, 4),
                    "requests": g.count,
                    "cpu_s": round(g.cpu_s, 5),
                    "us_per_request": round(g.per_request_s * 1e6, 2),
                    "penalty_ms": round((g.per_request_s - base) * 1000.0, 4),
                }
                for g in m.cold_start
            ],
            "fit_rms_ms": round(
                math.sqrt(
                    statistics.fmean(
                        ((g.per_request_s - base) * 1000.0 - f * 1000.0) ** 2
                        for g, f in zip(m.cold_start[1:], fitted, strict=True)
                    )
                ),
                5,
            ),
        },
        "commit": {
            "posts": len(m.push_latency_ms),
            "push_ms": c.service_ms.push,
            "latency_ms": {
                q: round(float(np.percentile(lat, v)), 3) for q, v in (("p10", 10), ("p50", 50), ("p90", 90))
            },
            "samples_ms": _round_list(m.push_latency_ms),
        },
        "idle_server": {
            "rss_bytes": m.idle.rss_bytes,
            "fd_limit": m.idle.fd_limit,
            "fds": m.idle.fds,
            "cpu_per_s": round(m.idle.cpu_per_s, 6),
        },
    }


def _meta(target: Target, settings: dict[str, Any], m: Measurements, notes: list[str]) -> dict[str, Any]:
    samples, clock = m.samples, m.clock
    memory: dict[str, Any] = {
        f.kind: {
            "connections": f.opened,
            "rss_before": f.rss_before,
            "rss_held": f.rss_held,
            "per_connection_bytes": round(f.per_connection),
        }
        for f in m.memory
    }
    memory["keepalive"]["idle_cpu_per_s"] = round(m.keepalive_cpu_per_s, 6)
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "target": target.base_url,
        "spawned_server": target.spawned,
        "cpu_clock": clock.source,
        "clock_resolution_s": clock.resolution_s,
        "settings": settings,
        "noop_us": round(samples["noop"].per_unit_s * 1e6, 2),
        "samples": {
            k: {
                "count": s.count,
                "cpu_s": round(s.cpu_s, 4),
                "wall_s": round(s.wall_s, 3),
                "us_per_unit": round(s.per_unit_s * 1e6, 2),
                "resolution_share": float(f"{s.resolution_share(clock.resolution_s):.3g}"),
            }
            for k, s in samples.items()
        },
        "memory": memory,
        "notes": notes,
    }


def build_result(target: Target, m: Measurements, settings: dict[str, Any]) -> CalibrationResult:
    """Assemble the calibration from the measurements (heartbeat only when it was measured)."""
    service = _service(m.samples, heartbeat="heartbeat" in m.samples)
    push_crowds = [f.per_connection for f in m.memory if f.kind != "keepalive"]
    calibration = Calibration(
        service_ms=service,
        bytes=WireBytes(**m.wire),
        memory_per_connection_bytes=max(1, round(max(push_crowds))),
        **_capacity_fields(m, service),
    )
    in_flight = int(settings["scaling"]["in_flight"])
    notes = _notes(target, m, float(settings["budget"]["cpu_s"])) + _capacity_notes(m, in_flight)
    meta = _meta(target, settings, m, notes)
    meta.update(_capacity_meta(m, calibration))
    return CalibrationResult(calibration=replace(calibration, meta=meta), samples=m.samples, meta=meta)
