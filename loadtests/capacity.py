"""``pollbench capacity --mode measure``: each strategy's knee on a real server, measured.

For each strategy a server starts (from one database seeded once for the whole run, under the CPU quota if
one is given) and one Locust run (``--processes`` workers, so none nears the descriptor limit) is steered
probe by probe by :class:`loadtests.knee.MeasuredKnee`: clients are added until a probe breaks the SLO,
then bisected between the last good and the first bad count to within ``--tolerance``. Where a calibration
is given, the simulator chooses where to start (a share of its predicted knee) and simulates every probe
beside the measurement (``detail.sim`` of each step); the measurement alone decides. The result is one
:class:`pollbench.capacity.CapacityReport` (``capacity.json``, schema 2).

Runs in the pollbench process: it never imports Locust.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests.knee import KneeSettings, MeasuredKnee, ProbeError
from loadtests.server_process import (
    ServerError,
    ServerOptions,
    ServerProcess,
    seed_template,
    sigterm_as_interrupt,
)
from pollbench.capacity import (
    MIN_MESSAGE_RATE,
    CapacityReport,
    Knee,
    KneeStep,
    Slo,
    knee_from_search,
    search_knee,
    with_full_core,
    write_capacity,
)
from pollbench.results import to_jsonable
from pollbench.scenario import Scenario
from pollbench.strategies import LongPoll, Strategy
from pollbench.targets import add_target_arguments

__all__ = ["KneeSearchConfig", "add_arguments", "locust_processes", "measure_knees", "run"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
SHAPES = Path(__file__).with_name("shapes.py")
CONNECTIONS_PER_PROCESS = 12_000
"""Most connections one Locust process is given (its descriptor limit is 20 000 here). Not fewer: on 2
cores every extra worker is another process starved of CPU while it spawns clients."""

Predictor = Callable[[Strategy, int], KneeStep]
"""Simulates `clients` clients of a strategy under the search's scenario and SLO (one probe)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KneeSearchConfig:
    """Inputs of a measured knee search, for every strategy alike."""

    scenario: Scenario
    """The workload (orders per customer, message interval and size, CPU quota); clients vary per probe."""
    workload: str
    """Name of the workload the knees are for (a preset, a scenario file, or "flags")."""
    slo: Slo
    out: Path
    """Directory for capacity.json, Locust's logs and the servers' files."""
    max_clients: int = 20_000
    """Search ceiling (and the customers seeded)."""
    start_clients: int = 100
    """First probe when nothing predicts the knee."""
    growth: float = 2.0
    """Factor between probes going up (1.3 when a prediction places the first probe)."""
    tolerance: float = 0.1
    """Bisect until the last good and first bad probes are this close (share of the good one)."""
    min_message_rate: float = MIN_MESSAGE_RATE
    """Messages per second the senders post at least (probes of a quiet workload need latency samples)."""
    processes: int | None = None
    """Locust worker processes; None: enough for CONNECTIONS_PER_PROCESS each."""
    settings: KneeSettings = field(default_factory=KneeSettings)
    seed: int = 1
    host: str | None = None
    """A running server on this machine to search against (already checked); None starts one per strategy."""
    fixtures: Path | None = None
    """Its fixtures file."""


def locust_processes(strategy: Strategy, clients: int, orders_per_customer: int) -> int:
    """Worker processes so that none holds more than CONNECTIONS_PER_PROCESS connections."""
    per_client = orders_per_customer + 1 if isinstance(strategy, LongPoll) else 1 if strategy.is_push else 2
    return max(1, math.ceil(clients * per_client / CONNECTIONS_PER_PROCESS))


def _locust_command(
    config: KneeSearchConfig,
    strategy: Strategy,
    base_url: str,
    fixtures: Path,
    raw: Path,
    control: Path,
    processes: int,
) -> list[str]:
    from loadtests.runner import free_loopback_port, slug

    s = config.scenario
    name = slug(strategy.spec)
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        f"{LOCUSTFILE},{SHAPES}",
        "--headless",
        "--host",
        base_url,
        "--exit-code-on-error",
        "0",
        "--only-summary",
        "--stop-timeout",
        "0",
        "--csv",
        str(config.out / "locust" / name),
        "--strategy",
        strategy.spec,
        "--fixtures",
        str(fixtures),
        "--raw-dir",
        str(raw),
        "--receivers",
        "0",
        "--customers-per-sender",
        "250",
        "--message-interval",
        f"{s.message_interval:g}",
        "--message-bytes",
        str(s.message_bytes),
        "--min-message-rate",
        f"{config.min_message_rate:g}",
        "--seed",
        str(config.seed),
        "--hidden-fraction",
        f"{s.hidden_fraction:g}",
        "--control",
        str(control),
    ]
    if processes > 1:
        port = str(free_loopback_port())
        cmd += [
            "--processes",
            str(processes),
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            port,
            "--master-host",
            "127.0.0.1",
            "--master-port",
            port,
        ]
    return cmd


def _server_options(config: KneeSearchConfig, workdir: Path, **more: Any) -> ServerOptions:
    return ServerOptions(
        customers=config.max_clients,
        orders_per_customer=config.scenario.orders_per_client,
        admins=1,
        workdir=workdir,
        **more,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """The server a search loads: where it listens, its fixtures, its process on this machine."""

    base_url: str
    fixtures: Path
    pid: int


@contextlib.contextmanager
def _target(
    config: KneeSearchConfig, strategy: Strategy, template: Path | None, secret: str
) -> Iterator[Target]:
    """A server of the strategy's own from the template (under the quota), or the --host server."""
    from loadtests.calibrate_server import find_listening_pid, loopback_address
    from loadtests.runner import server_flags, slug

    if config.host is not None:
        assert config.fixtures is not None
        _host, port = loopback_address(config.host)
        pid = find_listening_pid(port)
        if pid is None:
            raise ProbeError(
                f"no process of this user listens on port {port}: a knee search reads the "
                "server's CPU, memory and descriptors from /proc, so --host must run here"
            )
        yield Target(base_url=config.host, fixtures=config.fixtures, pid=pid)
        return
    assert template is not None
    quota = config.scenario.server_cpu_quota
    options = _server_options(
        config,
        config.out / "server" / slug(strategy.spec),
        template=template,
        secret=secret,
        extra_args=server_flags(strategy),
        cpu_quota=quota,
    )
    with ServerProcess(options) as server:
        assert server.pid is not None
        yield Target(base_url=server.base_url, fixtures=server.fixtures, pid=server.pid)


def measure_knee(
    config: KneeSearchConfig,
    strategy: Strategy,
    target: Target,
    *,
    connection_limit: int,
    predict: Predictor | None,
    predicted: int | None,
    progress: Callable[[str], None],
) -> Knee:
    """One strategy's measured knee against `target`, with a Locust run of its own."""
    from loadtests.runner import slug

    name = slug(strategy.spec)
    raw = config.out / "raw" / name
    raw.mkdir(parents=True, exist_ok=True)
    for old in raw.iterdir():
        old.unlink()
    (config.out / "locust").mkdir(parents=True, exist_ok=True)
    control = config.out / "control" / f"{name}.json"
    control.parent.mkdir(parents=True, exist_ok=True)
    control.unlink(missing_ok=True)
    ceiling = config.max_clients
    start, growth = config.start_clients, config.growth
    if predicted is not None and predicted > 0:
        start, growth = max(10, min(ceiling, int(predicted * 0.6))), 1.3
    processes = config.processes or locust_processes(strategy, ceiling, config.scenario.orders_per_client)
    log_path = config.out / "locust" / f"{name}.log"
    quota = config.scenario.server_cpu_quota
    with log_path.open("wb") as log:
        cmd = _locust_command(config, strategy, target.base_url, target.fixtures, raw, control, processes)
        locust = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            probe = MeasuredKnee(
                strategy=strategy,
                slo=config.slo,
                server_pid=target.pid,
                locust=locust,
                raw_dir=raw,
                control=control,
                cpu_quota=quota,
                connection_limit=connection_limit,
                settings=config.settings,
                replay=(lambda n: predict(strategy, n)) if predict is not None else None,
                progress=progress,
            )
            _wait_for_senders(raw, locust, log_path)
            outcome = search_knee(
                probe, start=min(start, ceiling), ceiling=ceiling, growth=growth, tolerance=config.tolerance
            )
            probe.stop()
            _wait_exit(locust, 30.0)
        finally:
            if locust.poll() is None:
                os.killpg(locust.pid, signal.SIGKILL)
                locust.wait(timeout=10)
    knee = knee_from_search(outcome, strategy=strategy.spec, source="measured", server_cpu_quota=quota)
    budget = config.slo.memory_bytes
    return with_full_core(knee, connection_limit=connection_limit, memory_budget_bytes=budget)


def _wait_for_senders(raw: Path, locust: subprocess.Popen[bytes], log: Path) -> None:
    """The run is up once its first process writes counters (its flusher started with the test)."""
    deadline = time.monotonic() + 60.0
    while not any(raw.glob("counters-*.json")):
        if locust.poll() is not None:
            raise ProbeError(f"Locust exited before the search started (code {locust.returncode}); see {log}")
        if time.monotonic() > deadline:
            raise ProbeError(f"Locust did not start within 60 s; see {log}")
        time.sleep(0.2)


def _wait_exit(proc: subprocess.Popen[bytes], seconds: float) -> None:
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def measure_knees(
    config: KneeSearchConfig,
    strategies: tuple[Strategy, ...],
    *,
    predict: Predictor | None = None,
    predicted: dict[str, int] | None = None,
    connection_limit: int | None = None,
    progress: Callable[[str], None] = print,
) -> CapacityReport:
    """Every strategy's measured knee against servers started here, as one capacity report."""
    from pollbench.results import machine_info
    from sim.calibration import Calibration

    config.out.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(16)
    template = None
    if config.host is None:
        progress(
            f"seeding {config.max_clients:,} customers x {config.scenario.orders_per_client} orders once"
        )
        try:
            template = seed_template(_server_options(config, config.out / "template", secret=secret))
        except ServerError as exc:
            raise ProbeError(f"seeding the knee servers failed: {exc}") from None
    else:
        assert config.fixtures is not None
        _check_customers(config.fixtures, config.max_clients)
    limit = connection_limit or Calibration().connection_limit
    knees = []
    for strategy in strategies:
        progress(f"{strategy.spec}: knee search (quota {_quota(config.scenario.server_cpu_quota)})")
        try:
            with _target(config, strategy, template, secret) as target:
                knee = measure_knee(
                    config,
                    strategy,
                    target,
                    connection_limit=limit,
                    predict=predict,
                    predicted=(predicted or {}).get(strategy.spec),
                    progress=progress,
                )
        except ServerError as exc:
            raise ProbeError(f"{strategy.spec}: {exc}") from None
        knees.append(knee)
        limits = ", ".join(knee.limited_by) or "ceiling"
        progress(f"{strategy.spec}: knee {knee.max_clients:,} clients ({limits}; {knee.note})")
    report = CapacityReport(
        source="measured",
        workload=config.workload,
        scenario=config.scenario.to_dict(),
        slo=config.slo,
        knees=tuple(knees),
        machine=machine_info(),
    )
    write_capacity(config.out, report)
    return report


def _check_customers(fixtures: Path, clients: int) -> None:
    from loadtests.fixtures import FixturesError, load_fixtures

    try:
        have = len(load_fixtures(fixtures).customers)
    except FixturesError as exc:
        raise ProbeError(str(exc)) from None
    if have < clients:
        raise ProbeError(
            f"{fixtures}: {have:,} customers for a search up to {clients:,} clients; seed at least "
            "as many customers or lower --max-clients"
        )


SIM_PROBE_S = 120.0
"""Simulated seconds of each simulated twin of a probe (at 10 messages/s, over a thousand deliveries)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Twin:
    """The simulator beside a measured search: where it predicts each knee, and each probe simulated."""

    predicted: dict[str, int]
    """Strategy spec -> simulated knee under the same quota (the measured search starts at 0.6 of it)."""
    predict: Predictor
    """Simulates one probe of the measured search (its detail.sim)."""
    connection_limit: int
    """The calibrated server's descriptor limit less its own."""


def simulated_twin(config: KneeSearchConfig, strategies: tuple[Strategy, ...], calibration: Any) -> Twin:
    """Simulated knees (to aim the first probes) and the probe simulator, for a calibrated server."""
    from sim.capacity import simulated_knee, simulated_step

    base = config.scenario.override(duration=SIM_PROBE_S)
    rate = config.min_message_rate
    predicted = {
        s.spec: simulated_knee(
            s, base, config.slo, calibration, ceiling=config.max_clients, min_message_rate=rate
        ).max_clients
        for s in strategies
    }

    def predict(strategy: Strategy, clients: int) -> KneeStep:
        return simulated_step(strategy, base, config.slo, calibration, clients, min_message_rate=rate)

    return Twin(predicted=predicted, predict=predict, connection_limit=calibration.connection_limit)


def _quota(q: float | None) -> str:
    return "a whole core" if q is None else f"{q:g} of a core"


# --- the command ---------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of --mode measure (the capacity command already has --strategies, the SLO and scenario flags)."""
    g = parser.add_argument_group("--mode measure (a real knee search: one server and one Locust run each)")
    g.add_argument(
        "--max-clients",
        type=int,
        default=20_000,
        metavar="N",
        help="search ceiling and customers seeded (20000)",
    )
    g.add_argument(
        "--start-clients",
        type=int,
        default=None,
        metavar="N",
        help="first probe when no calibration predicts the knee (100, or --max-clients if lower)",
    )
    g.add_argument(
        "--tolerance",
        type=float,
        default=0.1,
        metavar="F",
        help="bisect until the good and bad probes are within this share (0.1)",
    )
    g.add_argument("--window", default="20s", metavar="S", help="seconds of messages judged per probe (20s)")
    g.add_argument(
        "--settle",
        default="5s",
        metavar="S",
        help="seconds after a probe's clients run (plus the strategy's worst wait) before its window (5s)",
    )
    g.add_argument(
        "--min-message-rate",
        type=float,
        default=MIN_MESSAGE_RATE,
        metavar="R",
        help=f"messages/s the senders post at least, for latency samples ({MIN_MESSAGE_RATE:g})",
    )
    g.add_argument(
        "--processes",
        type=int,
        default=None,
        metavar="P",
        help="Locust worker processes (default: one per 8000 connections)",
    )
    g.add_argument("--out", metavar="DIR", help="directory for capacity.json and logs (./capacity-measured)")
    add_target_arguments(
        g,  # type: ignore[arg-type]  # an argument group takes the same add_argument calls
        host_help="search against this running server on this machine instead of starting one per "
        "strategy (its CPU, memory and descriptors are read from /proc; needs --fixtures)",
    )
    g.add_argument("--fixtures", metavar="FILE", help="fixtures file of the server at --host")


def run(args: argparse.Namespace, slo: Slo, scenario: Scenario, workload: str) -> int:
    """Entry point of ``pollbench capacity --mode measure`` (flags already checked by the command)."""
    from pollbench.commands import CommandError
    from pollbench.scenario import parse_duration
    from pollbench.strategies import parse_strategies
    from pollbench.targets import check_target

    host = check_target(args.host, allow_remote=args.allow_remote) if args.host else None
    if host and not args.fixtures:
        raise CommandError("--host needs --fixtures (the file 'pollbench serve --fixtures' wrote)")
    if host and scenario.server_cpu_quota is not None:
        raise CommandError("--server-cpu-quota applies to servers pollbench starts; not with --host")

    strategies = parse_strategies(scenario.strategies)
    config = KneeSearchConfig(
        scenario=scenario,
        workload=workload,
        slo=slo,
        out=Path(args.out or "capacity-measured").resolve(),
        max_clients=args.max_clients,
        start_clients=args.start_clients or min(100, args.max_clients),
        tolerance=args.tolerance,
        min_message_rate=args.min_message_rate,
        processes=args.processes,
        settings=KneeSettings(window_s=parse_duration(args.window), settle_s=parse_duration(args.settle)),
        seed=scenario.seed,
        host=host,
        fixtures=Path(args.fixtures).resolve() if host else None,
    )
    from rich.console import Console

    err = Console(stderr=True, highlight=False)
    twin = None
    if scenario.calibration is not None:
        from pollbench.commands.simulate import load_calibration_or_fail

        err.print("simulating each knee with the calibration, to aim the first probes")
        twin = simulated_twin(config, strategies, load_calibration_or_fail(scenario.calibration))
    try:
        with sigterm_as_interrupt():  # a CI timeout's SIGTERM still stops Locust and the servers
            report = measure_knees(
                config,
                strategies,
                predict=twin.predict if twin else None,
                predicted=twin.predicted if twin else None,
                connection_limit=twin.connection_limit if twin else None,
                progress=lambda line: err.print(line, markup=False),
            )
    except ProbeError as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        print(json.dumps(to_jsonable(report.to_dict()), indent=2))
    else:
        console = Console(width=None if sys.stdout.isatty() else 150)
        for knee in report.knees:
            console.print(steps_table(knee, report.slo))
        console.print(knees_table(report, args.users))
    err.print(f"wrote {config.out / 'capacity.json'}")
    return 0


def steps_table(knee: Knee, slo: Slo) -> Any:
    """Every probe of one knee search, in the order run."""
    from rich.table import Table

    from pollbench.strategies import parse_strategy

    p99 = slo.p99_for(parse_strategy(knee.strategy))
    t = Table(
        title=f"{knee.strategy}: {knee.source} probes (SLO p99 <= {p99:g} s, CPU <= {slo.utilization:.0%})"
    )
    for col in ("clients", "msgs", "p50 s", "p99 s", "server CPU", "conns", "RSS MiB", "fail", "verdict"):
        t.add_column(col, justify="right")
    for s in knee.steps:
        verdict = "ok" if s.ok else ", ".join(s.limited_by)
        if not s.conclusive:
            verdict = "inconclusive"
        t.add_row(
            f"{s.clients:,}",
            str(s.messages),
            _f(s.p50_s),
            _f(s.p99_s),
            _pct(s.server_utilization),
            f"{s.open_connections:,.0f}",
            f"{s.rss_bytes / 2**20:,.0f}",
            f"{s.fail_ratio:.1%}",
            verdict,
        )
    return t


def knees_table(report: CapacityReport, users: int) -> Any:
    """One row per strategy: the knee, what bound it, a whole core, processes for `users`."""
    from rich.table import Table

    from pollbench.capacity import servers_needed

    t = Table(title=f"Knee per server process ({report.source}, workload {report.workload})")
    for col in ("strategy", "knee", "limited by", "quota", "whole core", f"processes for {users:,}"):
        t.add_column(col, justify="left" if col == "strategy" else "right")
    for k in report.knees:
        full = k.full_core_clients
        basis = " (scaled)" if k.scaled_to_full_core else ""
        need = servers_needed(users, full) if full else None
        t.add_row(
            k.strategy,
            f"{k.max_clients:,}" + ("+" if k.ceiling else ""),
            ", ".join(k.limited_by) or "ceiling",
            _quota(k.server_cpu_quota),
            "-" if full is None else f"{full:,}{basis} ({k.full_core_limit})",
            "-" if need is None else f"{need:,}",
        )
    return t


def _f(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.3f}"


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.0%}"
