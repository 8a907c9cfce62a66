"""What a calibration produced: the simulator's constants, every CPU sample behind them, and provenance.

The JSON written by :meth:`CalibrationResult.to_json` is exactly what ``pollbench simulate --calibration``
reads (:func:`sim.calibration.load_calibration`), plus a ``meta`` object recording when, where and how it
was measured, the sample behind every figure and anything the reader should know (``meta.notes``).
"""

from __future__ import annotations

import datetime
import json
import platform
from dataclasses import dataclass, replace
from typing import Any

from loadtests.calibrate_http import Sample
from loadtests.calibrate_memory import MemoryFigure
from loadtests.calibrate_server import CalibrateError, CpuClock, Target
from sim.calibration import Calibration, ServiceTimes, WireBytes

__all__ = ["CalibrationResult", "build_result"]


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


def _notes(target: Target, samples: dict[str, Sample], distinct_since: int, cpu_target_s: float,
           clock: CpuClock) -> list[str]:  # fmt: skip
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
    if samples["since"].count > distinct_since:
        notes.append(f"only {distinct_since} distinct since-polls for {samples['since'].count} requests: "
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


def _meta(target: Target, settings: dict[str, Any], samples: dict[str, Sample],
          memory: list[MemoryFigure], notes: list[str], clock: CpuClock) -> dict[str, Any]:  # fmt: skip
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
        "memory": {
            m.kind: {
                "connections": m.opened,
                "rss_before": m.rss_before,
                "rss_held": m.rss_held,
                "per_connection_bytes": round(m.per_connection),
            }
            for m in memory
        },
        "notes": notes,
    }


def build_result(
    target: Target,
    samples: dict[str, Sample],
    wire: dict[str, int],
    memory: list[MemoryFigure],
    settings: dict[str, Any],
    distinct_since: int,
    clock: CpuClock,
) -> CalibrationResult:
    """Assemble the calibration from the measurements (heartbeat only when it was measured)."""
    calibration = Calibration(
        service_ms=_service(samples, heartbeat="heartbeat" in samples),
        bytes=WireBytes(**wire),
        memory_per_connection_bytes=max(1, round(max(m.per_connection for m in memory))),
    )
    notes = _notes(target, samples, distinct_since, float(settings["budget"]["cpu_s"]), clock)
    meta = _meta(target, settings, samples, memory, notes, clock)
    return CalibrationResult(calibration=replace(calibration, meta=meta), samples=samples, meta=meta)
