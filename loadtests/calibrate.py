"""Calibration: measure the reference server, and write the constants the simulator runs on.

The simulator describes a server by a service time per request kind, the bytes of every exchange and the
memory of an open connection (:class:`sim.calibration.Calibration`). :func:`calibrate` measures all of them
on a real server: its own seeded ``pollbench serve`` subprocess, or a running loopback server. Service
times are the server process's CPU seconds per request, so they are what the simulated event loop is busy
for, and they do not depend on how busy the rest of the machine is (only on how fast it is: the no-op
figure in ``meta`` is the yardstick for that).

Order matters: memory crowds come before the long-poll and push phases, whose thousands of closed
connections would leave freed memory behind for the crowds to reuse.

Public API (no Locust import)::

    result = calibrate(None, quick=True)          # or calibrate("http://127.0.0.1:8080", fixtures=path)
    result.calibration.service_ms.orders_304      # milliseconds
    Path("calibration.json").write_text(result.to_json())
    result.noop_s                                 # machine reference: CPU s per GET /bench/noop
"""

from __future__ import annotations

import asyncio
import datetime
import json
import platform
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from loadtests.calibrate_http import Budget, Sample
from loadtests.calibrate_longpoll import LongPollSettings, measure_longpoll
from loadtests.calibrate_memory import MemoryFigure, MemorySettings, measure_memory
from loadtests.calibrate_plan import make_plan
from loadtests.calibrate_polls import measure_noop, measure_polls
from loadtests.calibrate_push import PushSettings, measure_deliveries, measure_heartbeat, measure_ping
from loadtests.calibrate_server import TICK_S, CalibrateError, CpuClock, Target, attach, spawn_server
from loadtests.calibrate_wire import measure_wire
from sim.calibration import Calibration, ServiceTimes, WireBytes

__all__ = [
    "CalibrateError",
    "CalibrateSettings",
    "CalibrationResult",
    "HEARTBEAT_S",
    "Progress",
    "calibrate",
    "calibrate_async",
    "machine_reference_s",
]

Progress = Callable[[str, float], None]
"""Called with what is being measured and the fraction of the run done (0..1)."""

HEARTBEAT_S = 0.05
"""SSE heartbeat of the second server started to measure heartbeats (the default 15 s is too rare)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CalibrateSettings:
    """How much a calibration measures; :meth:`quick` is the <= 20 s variant."""

    budget: Budget = field(default_factory=lambda: Budget(cpu_s=0.5))
    """Server CPU per request kind (0.5 s: one 10 ms tick is 2 % of it)."""
    connections: int = 4
    """Keep-alive connections per request batch."""
    longpoll: LongPollSettings = field(default_factory=LongPollSettings)
    """Parked long-polls per round and rounds."""
    push: PushSettings = field(default_factory=PushSettings)
    """Subscribers for the push measurements."""
    memory: MemorySettings = field(default_factory=MemorySettings)
    """Idle crowds for the memory per connection."""
    customers: int = 60
    """Customers seeded into a server calibration starts itself (3 orders each)."""

    @classmethod
    def quick(cls) -> CalibrateSettings:
        return cls(
            budget=Budget(cpu_s=0.2, max_s=4.0),
            longpoll=LongPollSettings(waiters=1000, rounds=2, timeout_s=1.5),
            push=PushSettings(subscribers=100, max_posts=200),
            memory=MemorySettings(connections=300, settle_pause_s=0.5, settle_max_s=3.0),
        )


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


def _notes(target: Target, samples: dict[str, Sample], distinct_since: int) -> list[str]:
    notes = [
        "service_ms = server-process CPU (user+system, all threads) per request, psutil, "
        f"{TICK_S * 1000:.0f} ms ticks; longpoll_reply is the woken reply (immediate: meta.samples)",
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
    coarse = [k for k, s in samples.items() if s.tick_share > 0.02]
    if coarse:
        notes.append(f"tick above 2 % of the CPU measured for: {', '.join(sorted(coarse))} (see tick_share)")
    return notes


def _meta(target: Target, settings: CalibrateSettings, samples: dict[str, Sample],
          memory: list[MemoryFigure], notes: list[str]) -> dict[str, Any]:  # fmt: skip
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "target": target.base_url,
        "spawned_server": target.spawned,
        "tick_s": TICK_S,
        "connections_per_batch": settings.connections,
        "cpu_target_s": settings.budget.cpu_s,
        "noop_us": round(samples["noop"].per_unit_s * 1e6, 2),
        "samples": {
            k: {
                "count": s.count,
                "cpu_s": round(s.cpu_s, 4),
                "wall_s": round(s.wall_s, 3),
                "us_per_unit": round(s.per_unit_s * 1e6, 2),
                "tick_share": round(s.tick_share, 4),
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


class _Steps:
    """Progress over the run's steps (each weighted by its expected share of the time)."""

    def __init__(self, progress: Progress | None, total: float) -> None:
        self.progress, self.total, self.done = progress, total, 0.0

    def __call__(self, what: str, weight: float = 0.0) -> None:
        self.done += weight
        if self.progress is not None:
            self.progress(what, min(1.0, self.done / self.total))


async def _heartbeat(settings: CalibrateSettings, workdir: Path, steps: _Steps) -> tuple[Sample, float]:
    """Heartbeats on a second server of our own with a short heartbeat interval."""
    steps("SSE heartbeats (second server)")
    args = ("--sse-heartbeat", f"{HEARTBEAT_S:g}")
    with spawn_server(workdir / "heartbeat", customers=4, extra_args=args) as target:
        plan = make_plan(target)
        return await measure_heartbeat(target, plan, CpuClock(target.pid), settings.budget, settings.push)


async def _measure(
    target: Target, settings: CalibrateSettings, workdir: Path, steps: _Steps
) -> CalibrationResult:
    plan, clock = make_plan(target), CpuClock(target.pid)
    budget, samples = settings.budget, {}

    def report(sample: Sample) -> None:
        samples[sample.kind] = sample
        steps(f"{sample.kind}: {sample.per_unit_s * 1e6:.0f} µs", 1.0)

    steps("wire bytes")
    wire = await asyncio.to_thread(measure_wire, target, plan)
    report(await measure_noop(target, clock, budget, settings.connections))
    polls, distinct_since = await measure_polls(target, plan, clock, budget, settings.connections, report)
    samples.update(polls)
    steps("memory per connection (idle crowds)")
    memory = await asyncio.to_thread(measure_memory, target, plan, workdir, settings.memory)
    steps("memory", 2.0)
    post_s = samples["post"].per_unit_s
    samples.update(await measure_longpoll(target, plan, clock, post_s, settings.longpoll, report))
    for kind in ("sse", "ws"):
        report(await measure_deliveries(kind, target, plan, clock, post_s, budget, settings.push))
    ping, ping_bytes = await measure_ping(target, plan, clock, budget, settings.push)
    report(ping)
    wire["ws_ping"] = round(ping_bytes)
    if target.spawned:
        heartbeat, heartbeat_bytes = await _heartbeat(settings, workdir, steps)
        report(heartbeat)
        wire["sse_heartbeat"] = round(heartbeat_bytes)
    calibration = Calibration(
        service_ms=_service(samples, heartbeat=target.spawned),
        bytes=WireBytes(**wire),
        memory_per_connection_bytes=max(1, round(max(m.per_connection for m in memory))),
    )
    meta = _meta(target, settings, samples, memory, _notes(target, samples, distinct_since))
    return CalibrationResult(calibration=replace(calibration, meta=meta), samples=samples, meta=meta)


def _weights(settings: CalibrateSettings, spawned: bool) -> float:
    # noop + 7 poll kinds + 2 long-poll rounds' reports ... one unit per reported sample, 2 for memory
    return 1 + 7 + settings.longpoll.rounds + 2 + 1 + (1 if spawned else 0) + 2


async def calibrate_async(
    host: str | None = None,
    *,
    fixtures: Path | None = None,
    quick: bool = False,
    progress: Progress | None = None,
    settings: CalibrateSettings | None = None,
) -> CalibrationResult:
    """Measure a server: ``host`` None starts a seeded one; otherwise a loopback URL plus its fixtures."""
    settings = settings or (CalibrateSettings.quick() if quick else CalibrateSettings())
    with tempfile.TemporaryDirectory(prefix="pollbench-calibrate-") as tmp:
        workdir = Path(tmp)
        if host is not None:
            target = attach(host, fixtures)
            steps = _Steps(progress, _weights(settings, spawned=False))
            return await _measure(target, settings, workdir, steps)
        steps = _Steps(progress, _weights(settings, spawned=True))
        steps("starting the reference server")
        with spawn_server(workdir / "server", customers=settings.customers) as target:
            return await _measure(target, settings, workdir, steps)


def calibrate(
    host: str | None = None,
    *,
    fixtures: Path | None = None,
    quick: bool = False,
    progress: Progress | None = None,
    settings: CalibrateSettings | None = None,
) -> CalibrationResult:
    """:func:`calibrate_async` for callers without an event loop."""
    return asyncio.run(
        calibrate_async(host, fixtures=fixtures, quick=quick, progress=progress, settings=settings)
    )


def machine_reference_s(
    host: str | None = None, *, fixtures: Path | None = None, cpu_s: float = 0.3
) -> float:
    """Server CPU seconds per ``GET /bench/noop``: the machine yardstick for normalising timings.

    Starts its own server unless ``host`` (a loopback URL) is given; ``cpu_s`` sets the measurement length.
    """

    async def run() -> float:
        budget = Budget(cpu_s=cpu_s)
        if host is not None:
            target = attach(host, fixtures)
            return (await measure_noop(target, CpuClock(target.pid), budget, 4)).per_unit_s
        with tempfile.TemporaryDirectory(prefix="pollbench-noop-") as tmp:
            with spawn_server(Path(tmp), customers=1) as target:
                return (await measure_noop(target, CpuClock(target.pid), budget, 4)).per_unit_s

    return asyncio.run(run())
