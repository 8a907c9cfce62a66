"""The server benchmark: how close the hot poll paths come to a do-nothing handler, and what an idle push
connection costs in server memory.

One run starts one reference server (``pollbench serve`` on a free loopback port, a temporary SQLite file,
seeded demo customers with 3 orders each) and measures, with wrk, five request shapes against it:

=====  ==========  =============================================================  =============
 key    name        request                                                        target
=====  ==========  =============================================================  =============
 a      noop        ``GET /bench/noop`` — no auth, no store: the ceiling           —
 b      poll-304    ``GET /api/messages?orderId=X`` + ``If-None-Match`` → 304      >= 0.85 x (a)
 c      poll-since  ``GET /api/messages?orderId=X&since=CURSOR`` → nothing new      >= 0.85 x (a)
 d      poll-full   ``GET /api/messages?orderId=X`` → every message, about 2 KB    >= 0.5 x (a)
 e      orders      ``GET /api/orders`` for a customer with 3 orders               —
=====  ==========  =============================================================  =============

The machine is small and noisy, so the shapes are run round-robin (a, b, c, d, e, a, b, …) ``repeat`` times
and each shape's ratio to (a) is taken within its round before the median is reported: drift in the
machine's speed then cancels out of the ratio.

Then it holds crowds of idle Server-Sent Events streams and WebSockets (:mod:`reference_server.bench_push`,
a separate process so its memory is not counted) and reports the growth of the server's resident memory
per connection, target <= 16 KiB; optionally the same against :mod:`reference_server.bench_bare`, aiohttp
doing nothing, as the floor. Each crowd meets a freshly started server of its own (same command, same
seed): memory a crowd frees stays in the process's allocator, so a second crowd on the same process would
reuse it and look cheaper than it is.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reference_server.bench_http import RequestShape, build_shapes, check_shape, push_targets
from reference_server.bench_process import Child, ChildError, spawn, wait_for_listening
from reference_server.bench_push_phase import PushFigure, measure_push
from reference_server.bench_wrk import WrkOptions, WrkResult, find_wrk, run_wrk

__all__ = ["BenchConfig", "BenchError", "BenchReport", "HttpFigure", "Observer", "run_bench"]


class BenchError(RuntimeError):
    """The benchmark could not be run (wrk missing, server failed, unexpected response)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchConfig:
    """What one ``pollbench bench server`` run measures and how hard."""

    threads: int = 2
    """wrk threads."""
    connections: int = 64
    """wrk keep-alive connections."""
    duration_s: float = 5.0
    """length of each timed wrk run, seconds."""
    warmup_s: float = 2.0
    """length of one untimed wrk run per shape before the first round (0 = none)."""
    repeat: int = 3
    """rounds of (a)..(e); medians are taken over rounds."""
    sse_connections: int = 10_000
    """idle SSE streams to hold open (0 = skip)."""
    ws_connections: int = 10_000
    """idle WebSockets to hold open (0 = skip)."""
    bare: bool = True
    """also hold the crowds against a bare aiohttp server, the floor for the memory figures."""
    customers: int = 20
    """demo customers to seed (3 orders each); push connections are spread over their orders."""
    handshake_concurrency: int = 200
    """push handshakes in flight at once."""
    settle_pause_s: float = 2.0
    """pause before reading the server's memory, so pending frees land."""
    settle_max_s: float = 15.0
    """longest wait for the server's memory to stop moving."""
    start_timeout_s: float = 60.0
    """longest wait for a server to print its listening line."""

    def __post_init__(self) -> None:
        for name in ("threads", "connections", "repeat", "customers", "handshake_concurrency"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.connections < self.threads:
            raise ValueError("connections must be at least the number of threads (wrk needs one per thread)")
        if self.duration_s <= 0:
            raise ValueError(f"duration must be positive, got {self.duration_s!r}")
        for name in ("warmup_s", "sse_connections", "ws_connections", "settle_pause_s", "settle_max_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be zero or more, got {getattr(self, name)!r}")

    def wrk_options(self, duration_s: float) -> WrkOptions:
        return WrkOptions(threads=self.threads, connections=self.connections, duration_s=duration_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpFigure:
    """One request shape's throughput over every round."""

    shape: RequestShape
    """what was requested."""
    rounds: tuple[WrkResult, ...]
    """one wrk result per round."""
    ratios: tuple[float, ...]
    """this shape's requests/s over (a)'s in the same round."""
    cpu_s: tuple[float, ...] = ()
    """server CPU seconds (user + system) spent during each round's run."""
    cpu_ratios: tuple[float, ...] = ()
    """(a)'s server CPU per request over this shape's, in the same round: the ratio the throughput ratio
    would be if the server had a core to itself."""

    @property
    def cpu_ratio(self) -> float:
        """Median over rounds of the within-round CPU ratio to (a)."""
        return statistics.median(self.cpu_ratios) if self.cpu_ratios else float("nan")

    def cpu_per_request_s(self) -> list[float]:
        """Server CPU seconds per completed request, one per round (NaN for a round with no requests)."""
        return [
            c / r.requests if r.requests else float("nan")
            for c, r in zip(self.cpu_s, self.rounds, strict=True)
        ]

    @property
    def cpu_us_per_request(self) -> float:
        """Median over rounds of server CPU microseconds per completed request. Unlike requests/s this
        barely moves when other processes steal the CPU, so it tells a slow path from a busy machine."""
        per = [c * 1e6 for c in self.cpu_per_request_s() if c == c]  # NaN != NaN drops empty rounds
        return statistics.median(per) if per else float("nan")

    @property
    def requests_per_s(self) -> float:
        """Median requests/s over rounds."""
        return statistics.median(r.requests_per_s for r in self.rounds)

    @property
    def ratio(self) -> float:
        """Median over rounds of the within-round ratio to (a)."""
        return statistics.median(self.ratios)

    @property
    def errors(self) -> int:
        """Failed requests and socket errors over all rounds."""
        return sum(r.error_count for r in self.rounds)

    @property
    def passed(self) -> bool | None:
        """Whether the ratio meets the shape's target and nothing failed; None when it has no target."""
        if self.shape.min_ratio is None:
            return None
        return self.ratio >= self.shape.min_ratio and self.errors == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.shape.to_dict(),
            "requests_per_s": self.requests_per_s,
            "ratio_to_noop": self.ratio,
            "passed": self.passed,
            "errors": self.errors,
            "bytes_per_request": statistics.median(r.bytes_per_request for r in self.rounds),
            "latency_p50_us": statistics.median(r.latency_us["p50"] for r in self.rounds),
            "latency_p99_us": statistics.median(r.latency_us["p99"] for r in self.rounds),
            "rounds": [r.to_dict() for r in self.rounds],
            "ratios": list(self.ratios),
            "cpu_us_per_request": self.cpu_us_per_request,
            "cpu_ratio_to_noop": self.cpu_ratio,
            "cpu_ratios": list(self.cpu_ratios),
            "cpu_s": list(self.cpu_s),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchReport:
    """Everything one run measured."""

    config: BenchConfig
    """the run's settings."""
    http: tuple[HttpFigure, ...]
    """throughput per request shape, (a) first."""
    push: tuple[PushFigure, ...]
    """memory per idle push connection, per server and transport."""
    server_argv: tuple[str, ...]
    """the command that started the server under test."""
    machine: dict[str, Any] = field(default_factory=dict)
    """where it ran."""

    @property
    def passed(self) -> bool:
        """Every figure that has a target meets it."""
        verdicts = [f.passed for f in self.http] + [p.passed for p in self.push]
        return all(v is not False for v in verdicts)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            "passed": self.passed,
            "config": asdict(self.config),
            "server_argv": list(self.server_argv),
            "machine": self.machine,
            "http": [f.to_dict() for f in self.http],
            "push": [p.to_dict() for p in self.push],
        }


class Observer:
    """Hears about progress; the CLI subclasses it to drive a progress bar. The base class ignores it all."""

    def start(self, total_steps: int) -> None:
        """The run will take ``total_steps`` steps."""

    def step(self, description: str) -> None:
        """A new step begins."""

    def detail(self, text: str) -> None:
        """Progress within the current step."""


def server_argv(workdir: Path, customers: int) -> list[str]:
    """The ``pollbench serve`` command the benchmark runs (as this interpreter's module, so the PID is the
    server's own and its memory is what we read)."""
    return [
        sys.executable, "-m", "pollbench", "serve",
        "--host", "127.0.0.1", "--port", "0",
        "--db", str(workdir / "bench.sqlite"),
        "--seed-customers", str(customers), "--orders-per-customer", "3", "--admins", "1",
        "--fixtures", str(workdir / "fixtures.json"),
    ]  # fmt: skip


def _read_fixtures(path: Path, child: Child, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            return data
        except (OSError, ValueError):
            child.ensure_alive()
            time.sleep(0.05)  # not written yet, or caught mid-write
    raise BenchError(f"the server wrote no readable fixtures file at {path} within {timeout_s:.0f} s")


@contextmanager
def _server(cfg: BenchConfig, workdir: Path) -> Iterator[tuple[Child, str, dict[str, Any]]]:
    argv = server_argv(workdir, cfg.customers)
    with spawn("server", argv, workdir) as child:
        base_url = wait_for_listening(child, cfg.start_timeout_s)
        yield child, base_url, _read_fixtures(workdir / "fixtures.json", child, cfg.start_timeout_s)


def server_cpu_s(child: Child) -> float:
    """CPU seconds (user + system) the child has used so far."""
    import psutil

    times = psutil.Process(child.proc.pid).cpu_times()
    return float(times.user + times.system)


def _wrk_rounds(
    cfg: BenchConfig, base_url: str, shapes: Sequence[RequestShape], server: Child, observer: Observer
) -> tuple[HttpFigure, ...]:
    wrk = find_wrk()
    if cfg.warmup_s > 0:
        for shape in shapes:
            observer.step(f"warm-up {shape.key} {shape.name}")
            run_wrk(base_url + shape.path, shape.headers, cfg.wrk_options(cfg.warmup_s), wrk=wrk)
    results: dict[str, list[WrkResult]] = {s.key: [] for s in shapes}
    cpu: dict[str, list[float]] = {s.key: [] for s in shapes}
    for round_no in range(1, cfg.repeat + 1):
        for shape in shapes:
            observer.step(f"round {round_no}/{cfg.repeat}: {shape.key} {shape.name}")
            before = server_cpu_s(server)
            result = run_wrk(base_url + shape.path, shape.headers, cfg.wrk_options(cfg.duration_s), wrk=wrk)
            cpu[shape.key].append(server_cpu_s(server) - before)
            server.ensure_alive()
            results[shape.key].append(result)
            observer.detail(f"{result.requests_per_s:,.0f} req/s")
    return _figures(shapes, results, cpu)


def _figures(
    shapes: Sequence[RequestShape], results: dict[str, list[WrkResult]], cpu: dict[str, list[float]]
) -> tuple[HttpFigure, ...]:
    raw = [
        HttpFigure(shape=s, rounds=tuple(results[s.key]), ratios=(), cpu_s=tuple(cpu[s.key])) for s in shapes
    ]
    ceiling = raw[0]
    figures = []
    for fig in raw:
        ratios = tuple(r.requests_per_s / c.requests_per_s if c.requests_per_s else 0.0
                       for r, c in zip(fig.rounds, ceiling.rounds, strict=True))  # fmt: skip
        pairs = zip(ceiling.cpu_per_request_s(), fig.cpu_per_request_s(), strict=True)
        cpu_ratios = tuple(c / x if x > 0 else float("nan") for c, x in pairs)
        figures.append(replace(fig, ratios=ratios, cpu_ratios=cpu_ratios))
    return tuple(figures)


def _push_kinds(cfg: BenchConfig) -> list[tuple[str, int]]:
    return [(k, n) for k, n in (("sse", cfg.sse_connections), ("ws", cfg.ws_connections)) if n > 0]


def _crowd_on_fresh_server(
    cfg: BenchConfig, server_name: str, kind: str, count: int, workdir: Path, observer: Observer
) -> PushFigure:
    # Each crowd gets a server process of its own: memory one crowd frees stays in the allocator, and a
    # second crowd on the same process would reuse it and look cheaper than it is.
    observer.step(f"{server_name} server: {count:,} idle {kind.upper()}")
    rundir = workdir / f"{server_name}-{kind}"
    rundir.mkdir()
    if server_name == "bare":
        argv = [sys.executable, "-m", "reference_server.bench_bare", "--host", "127.0.0.1", "--port", "0"]
        with spawn("bare server", argv, rundir) as bare:
            base_url = wait_for_listening(bare, cfg.start_timeout_s)
            targets = rundir / "push_targets.json"
            targets.write_text(json.dumps([{"token": "-", "orderId": "o1", "since": 0}]))
            return measure_push(cfg, bare, base_url, "bare", kind, count, targets, rundir, observer)
    with _server(cfg, rundir) as (server, base_url, fixtures):
        targets = push_targets(base_url, fixtures, rundir / "push_targets.json")
        return measure_push(cfg, server, base_url, "reference", kind, count, targets, rundir, observer)


def total_steps(cfg: BenchConfig) -> int:
    """How many steps :func:`run_bench` reports, for a progress bar."""
    pushes = len(_push_kinds(cfg)) * (2 if cfg.bare else 1)  # one step per crowd
    return 1 + (5 if cfg.warmup_s > 0 else 0) + 5 * cfg.repeat + pushes


def run_bench(cfg: BenchConfig, observer: Observer | None = None) -> BenchReport:
    """Run the whole benchmark once; every child process is stopped before it returns or raises."""
    from pollbench.results import machine_info

    obs = observer or Observer()
    obs.start(total_steps(cfg))
    find_wrk()  # fail before starting anything when the load generator is missing
    with tempfile.TemporaryDirectory(prefix="pollbench-bench-") as tmp:
        workdir = Path(tmp)
        obs.step("starting the server")
        try:
            httpdir = workdir / "http"
            httpdir.mkdir()
            with _server(cfg, httpdir) as (server, base_url, fixtures):
                shapes = build_shapes(fixtures)
                for shape in shapes:
                    check_shape(base_url, shape)
                http = _wrk_rounds(cfg, base_url, shapes, server, obs)
            servers = ("reference", "bare") if cfg.bare else ("reference",)
            push = [
                _crowd_on_fresh_server(cfg, name, kind, count, workdir, obs)
                for name in servers
                for kind, count in _push_kinds(cfg)
            ]
        except ChildError as exc:
            raise BenchError(str(exc)) from exc
    return BenchReport(
        config=cfg, http=http, push=tuple(push), server_argv=tuple(server_argv(Path("$TMP"), cfg.customers)),
        machine=machine_info(),
    )  # fmt: skip
