"""Calibration: measure the reference server, and write the constants the simulator runs on.

The simulator describes a server by a service time per request kind, the bytes of every exchange and the
memory of an open connection (:class:`sim.calibration.Calibration`). :func:`calibrate` measures all of them
on a real server: its own seeded ``pollbench serve`` subprocess, or a running loopback server. Service
times are the server process's CPU seconds per request, so they are what the simulated event loop is busy
for, and they barely depend on how busy the rest of the machine is (only on how fast it is: the no-op
figure in ``meta`` is the yardstick for that).

Order matters: the idle server's memory and descriptors are read before any load; the memory crowds come
before the connection-scaling, long-poll and push phases, whose thousands of closed connections would leave
freed memory behind for the crowds to reuse and look cheaper; the light-load phases (cold start, commit
time) come last, on a server with nothing else to do.

Public API (no Locust import)::

    result = calibrate(quick=True)                # or calibrate("http://127.0.0.1:8080", fixtures=path)
    result.calibration.service_ms.orders_304      # milliseconds
    Path("calibration.json").write_text(result.to_json())
    result.noop_s                                 # machine reference: CPU s per GET /bench/noop
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import statistics
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from loadtests.calibrate_coldstart import ColdStartSettings, GapSample, measure_cold_start
from loadtests.calibrate_commit import CommitSettings, measure_push_latency
from loadtests.calibrate_http import Budget, Sample
from loadtests.calibrate_longpoll import LongPollSettings, measure_longpoll
from loadtests.calibrate_memory import MemorySettings, measure_idle, measure_memory
from loadtests.calibrate_plan import Plan, make_plan
from loadtests.calibrate_polls import measure_noop, measure_polls, not_modified_polls
from loadtests.calibrate_push import PushSettings, measure_deliveries, measure_heartbeat, measure_ping
from loadtests.calibrate_result import CalibrationResult, Measurements, build_result
from loadtests.calibrate_scaling import ScalingPoint, ScalingSettings, measure_scaling
from loadtests.calibrate_server import CalibrateError, CpuClock, Target, attach, spawn_server
from loadtests.calibrate_wire import measure_wire

__all__ = [
    "HEARTBEAT_S",
    "CalibrateError",
    "CalibrateSettings",
    "CalibrationResult",
    "Progress",
    "calibrate",
    "calibrate_async",
    "machine_reference_s",
]

Progress = Callable[[str, float], None]
"""Called with what is being measured and the fraction of the run done (0..1)."""

HEARTBEAT_S = 0.05
"""SSE heartbeat of the second server started to measure heartbeats (the default 15 s is too rare)."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class CalibrateSettings:
    """How much a calibration measures; :meth:`quick` is the <= 20 s variant."""

    budget: Budget = field(default_factory=lambda: Budget(cpu_s=0.5))
    """Server CPU per request kind (0.5 s: one 10 ms tick is 2 % of it)."""
    connections: int = 2
    """Requests in flight per batch: two is a lightly loaded server, where most requests get a loop
    iteration of their own (more in flight share iterations and look up to 2x cheaper per request)."""
    longpoll: LongPollSettings = field(default_factory=LongPollSettings)
    """Parked long-polls per round and rounds."""
    push: PushSettings = field(default_factory=PushSettings)
    """Subscribers for the push measurements."""
    memory: MemorySettings = field(default_factory=MemorySettings)
    """Idle crowds for the memory per connection."""
    scaling: ScalingSettings = field(default_factory=ScalingSettings)
    """Connection counts whose CPU per request at saturation is measured (connection_scaling)."""
    cold_start: ColdStartSettings = field(default_factory=ColdStartSettings)
    """Idle gaps whose extra CPU per request is measured (cold_start)."""
    commit: CommitSettings = field(default_factory=CommitSettings)
    """Messages timed from createdAt to their subscriber (commit_ms)."""
    customers: int = 60
    """Customers seeded into a server calibration starts itself (3 orders each)."""
    time_limit_s: float = 55.0
    """Wall-clock the measurements aim to fit in: on a busy machine each kind stops at its share of it
    (with fewer requests; ``meta.samples`` shows each kind's tick share)."""

    @classmethod
    def quick(cls) -> CalibrateSettings:
        """Smaller samples: a 10 ms tick is ~5 % of each CPU figure instead of 2 %."""
        return cls(
            budget=Budget(cpu_s=0.2),
            longpoll=LongPollSettings(waiters=2000, cpu_s=0.2, max_rounds=4),
            push=PushSettings(subscribers=100, max_posts=200, heartbeat_streams=200),
            memory=MemorySettings(
                connections=300, keepalive=500, idle_window_s=0.3, settle_pause_s=0.3, settle_max_s=1.5
            ),
            scaling=ScalingSettings(connections=(100, 1000), windows=4),
            cold_start=ColdStartSettings(rounds=2, window_s=0.2, max_requests=200),
            commit=CommitSettings(posts=50, max_s=4.0),
            time_limit_s=16.0,
        )

    def describe(self) -> dict[str, Any]:
        """The settings as plain JSON, for ``meta``."""
        return dataclasses.asdict(self)


class _Steps:
    """Progress as a fraction of the run's expected steps (one per reported measurement)."""

    def __init__(self, progress: Progress | None, total: float) -> None:
        self.progress, self.total, self.done = progress, total, 0.0

    def __call__(self, what: str, weight: float = 0.0) -> None:
        self.done += weight
        if self.progress is not None:
            self.progress(what, min(1.0, self.done / self.total))

    def finish(self, what: str) -> None:
        self.done = self.total
        self(what)


def _total_steps(settings: CalibrateSettings, heartbeat: bool) -> float:
    # idle server, noop, 7 poll kinds, memory (2), scaling points, long-poll rounds (about 4), push SSE
    # and WS, ping, heartbeat, cold-start rounds, commit
    scaling, rounds = len(settings.scaling.connections), settings.cold_start.rounds
    return 1 + 1 + 7 + 2 + scaling + 4 + 3 + (1 if heartbeat else 0) + rounds + 1


Heartbeat = Awaitable[Target] | None


def _shares(settings: CalibrateSettings) -> CalibrateSettings:
    """Settings whose wall-clock caps fit each phase's share of the time limit (on a quiet machine the
    CPU targets are reached well before)."""
    limit = settings.time_limit_s
    r = dataclasses.replace
    return r(
        settings,
        budget=r(settings.budget, max_s=min(settings.budget.max_s, 0.045 * limit)),
        longpoll=r(settings.longpoll, max_s=min(settings.longpoll.max_s, 0.2 * limit)),
        scaling=r(settings.scaling, max_s=min(settings.scaling.max_s, 0.02 * limit)),
        commit=r(settings.commit, max_s=min(settings.commit.max_s, 0.08 * limit)),
    )


async def _scaling(target: Target, plan: Plan, clock: CpuClock, settings: CalibrateSettings,
                   steps: _Steps) -> tuple[list[ScalingPoint], int]:  # fmt: skip
    def report(point: ScalingPoint) -> None:
        steps(f"{point.connections} connections: {point.per_request_s * 1e6:.0f} µs/request", 1.0)

    customers = [c for c in target.fixtures.customers if c.orders]
    steps(f"connection scaling: {', '.join(map(str, settings.scaling.connections))} connections")
    return await measure_scaling(target, plan, clock, settings.scaling, report, customers), len(customers)


async def _light_load(target: Target, plan: Plan, clock: CpuClock, settings: CalibrateSettings,
                      steps: _Steps) -> tuple[list[GapSample], list[float]]:  # fmt: skip
    """Cold start and commit time, on a server with nothing else to do."""
    (poll,) = await not_modified_polls(target, [plan.reader], plan)
    rounds = settings.cold_start.rounds
    steps(f"cold start: idle gaps {', '.join(f'{g:g}' for g in settings.cold_start.gaps_ms)} ms")
    loop = asyncio.get_running_loop()

    def done(r: int) -> None:
        loop.call_soon_threadsafe(steps, f"cold start: round {r + 1}/{rounds}", 1.0)

    gaps = await asyncio.to_thread(
        measure_cold_start, target.host, target.port, poll, clock, settings.cold_start, done
    )
    steps(f"commit time: {settings.commit.posts} messages, one at a time")
    latencies = await measure_push_latency(target, plan, settings.commit)
    steps(f"commit time: push latency median {statistics.median(latencies):.1f} ms", 1.0)
    return gaps, latencies


async def _measure(
    target: Target, settings: CalibrateSettings, workdir: Path, steps: _Steps, heartbeat: Heartbeat
) -> CalibrationResult:
    plan, clock = make_plan(target), CpuClock(target.pid)
    samples: dict[str, Sample] = {}
    s = _shares(settings)
    push_budget = dataclasses.replace(
        settings.budget, max_s=min(settings.budget.max_s, 0.06 * s.time_limit_s)
    )

    def report(sample: Sample) -> None:
        samples[sample.kind] = sample
        steps(f"{sample.kind}: {sample.per_unit_s * 1e6:.0f} µs", 1.0)

    steps("idle server: memory, descriptors")
    idle = await measure_idle(target, clock, s.memory)
    steps(f"idle server: {idle.rss_bytes / 2**20:.0f} MiB, {idle.fds} of {idle.fd_limit} descriptors", 1.0)
    steps("wire bytes")
    wire = await asyncio.to_thread(measure_wire, target, plan)
    report(await measure_noop(target, clock, s.budget, s.connections))
    _polls, distinct_since = await measure_polls(target, plan, clock, s.budget, s.connections, report)
    steps("memory per idle connection")
    memory, keepalive_cpu = await measure_memory(target, plan, clock, s.memory)
    per = {m.kind: f"{m.per_connection / 1024:.1f}" for m in memory}
    steps(f"memory: {per['keepalive']} KiB/keep-alive, {per['sse']} SSE, {per['ws']} WS", 2.0)
    scaling, scaling_customers = await _scaling(target, plan, clock, s, steps)
    post_s = samples["post"].per_unit_s
    samples.update(await measure_longpoll(target, plan, clock, post_s, s.longpoll, report))
    for kind in ("sse", "ws"):
        report(await measure_deliveries(kind, target, plan, clock, post_s, push_budget, s.push))
    ping, ping_bytes = await measure_ping(target, plan, clock, push_budget, s.push)
    report(ping)
    wire["ws_ping"] = round(ping_bytes)
    if heartbeat is not None:
        steps("SSE heartbeats (second server)")
        beats = await heartbeat
        sample, beat_bytes = await measure_heartbeat(
            beats, make_plan(beats), CpuClock(beats.pid), push_budget, s.push
        )
        report(sample)
        wire["sse_heartbeat"] = round(beat_bytes)
    gaps, latencies = await _light_load(target, plan, clock, s, steps)
    measured = Measurements(
        samples=samples, wire=wire, memory=memory, keepalive_cpu_per_s=keepalive_cpu, idle=idle,
        scaling=scaling, scaling_customers=scaling_customers, cold_start=gaps, push_latency_ms=latencies,
        distinct_since=distinct_since, clock=clock,
    )  # fmt: skip
    return build_result(target, measured, settings.describe())


async def _with_own_servers(
    settings: CalibrateSettings, workdir: Path, steps: _Steps, cpu_quota: float | None
) -> CalibrationResult:
    """Start the reference server, and alongside it a second one with a short SSE heartbeat."""
    with contextlib.ExitStack() as stack:
        args = ("--sse-heartbeat", f"{HEARTBEAT_S:g}")
        # Started in a thread while the main measurements run, so its start-up costs no time.
        beats = spawn_server(workdir / "heartbeat", customers=2, extra_args=args, cpu_quota=cpu_quota)
        starting = asyncio.create_task(asyncio.to_thread(stack.enter_context, beats))
        try:
            with spawn_server(
                workdir / "server", customers=settings.customers, cpu_quota=cpu_quota
            ) as target:
                return await _measure(target, settings, workdir, steps, starting)
        finally:
            # The thread cannot be cancelled: wait for it, so the exit stack stops what it started.
            await asyncio.wait([starting])
            if not starting.cancelled():
                starting.exception()  # retrieved: a failed start was already reported by _measure


async def calibrate_async(
    host: str | None = None,
    *,
    fixtures: Path | None = None,
    quick: bool = False,
    progress: Progress | None = None,
    settings: CalibrateSettings | None = None,
    cpu_quota: float | None = None,
) -> CalibrationResult:
    """Measure a server: ``host`` None starts a seeded one; otherwise a loopback URL plus its fixtures.

    ``cpu_quota`` holds the servers calibration starts to that share of one core (recorded as
    ``meta.server_cpu_quota``); it cannot apply to ``host``."""
    if cpu_quota is not None and host is not None:
        raise CalibrateError("a CPU quota applies only to servers calibration starts itself, not to --host")
    settings = settings or (CalibrateSettings.quick() if quick else CalibrateSettings())
    with tempfile.TemporaryDirectory(prefix="pollbench-calibrate-") as tmp:
        workdir = Path(tmp)
        if host is not None:
            target = attach(host, fixtures)
            steps = _Steps(progress, _total_steps(settings, heartbeat=False))
            result = await _measure(target, settings, workdir, steps, None)
        else:
            steps = _Steps(progress, _total_steps(settings, heartbeat=True))
            steps("starting the reference server")
            result = await _with_own_servers(settings, workdir, steps, cpu_quota)
    steps.finish("done")
    return _with_quota(result, cpu_quota)


def _with_quota(result: CalibrationResult, cpu_quota: float | None) -> CalibrationResult:
    """Record the quota the servers ran under (None: a whole core) in ``meta``."""
    meta = {**result.meta, "server_cpu_quota": cpu_quota}
    return dataclasses.replace(
        result, meta=meta, calibration=dataclasses.replace(result.calibration, meta=meta)
    )


def _run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(main)
    # uvloop halves the client's cost per request, leaving more of the machine to the server.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def calibrate(
    host: str | None = None,
    *,
    fixtures: Path | None = None,
    quick: bool = False,
    progress: Progress | None = None,
    settings: CalibrateSettings | None = None,
    cpu_quota: float | None = None,
) -> CalibrationResult:
    """:func:`calibrate_async` for callers without an event loop."""
    return _run(
        calibrate_async(
            host, fixtures=fixtures, quick=quick, progress=progress, settings=settings, cpu_quota=cpu_quota
        )
    )


def machine_reference_s(
    host: str | None = None, *, fixtures: Path | None = None, cpu_s: float = 0.3
) -> float:
    """Server CPU seconds per ``GET /bench/noop``: the machine yardstick for normalising timings.

    Starts its own server unless ``host`` (a loopback URL, with its fixtures) is given; ``cpu_s`` is how
    much server CPU the measurement accumulates. Uses the same two requests in flight as calibration.
    """

    async def noop(target: Target) -> float:
        sample = await measure_noop(target, CpuClock(target.pid), Budget(cpu_s=cpu_s), 2)
        return sample.per_unit_s

    async def run() -> float:
        if host is not None:
            return await noop(attach(host, fixtures))
        with tempfile.TemporaryDirectory(prefix="pollbench-noop-") as tmp:
            with spawn_server(Path(tmp), customers=1) as target:
                return await noop(target)

    return _run(run())
