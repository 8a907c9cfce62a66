"""``pollbench compare``: calibrate, simulate and measure every strategy, then report them side by side.

The main job. One run: (1) ``calibrate`` measures the reference server's cost per request kind, wire bytes
and memory per connection on this machine; (2) a short Locust load test measures every strategy against
its own embedded, seeded reference server under the agreement load; (3) the simulator runs the same
scenario with that calibration and a loopback network; (4) the simulator runs the planning workload
(``--workload``, seed-chat by default) with that calibration; (5) the report puts sim and measured side by
side, with every ratio and a plain sentence wherever they disagree, and plans capacity for the planning
workload. Nothing in the model is tuned to the run.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pollbench.commands import (
    CommandError,
    add_cpu_quota_argument,
    cpu_quota_flag,
    duration_flag,
)
from pollbench.targets import LOOPBACK_RTT_MS, add_target_arguments, check_target

HELP = "calibrate, simulate and measure every strategy, then write a side-by-side report (the main job)"
DESCRIPTION = """\
Run the whole comparison on this machine and write OUT/report.html (self-contained), OUT/report.md,
OUT/summary.json (the summaries, the calibration, the agreement table and the plan), OUT/charts/, and the
raw results OUT/sim/, OUT/measured/ and OUT/plan/ (rebuild the report any time with 'pollbench report OUT').

Steps: calibrate the reference server (OUT/calibration.json); measure each strategy with a short Locust
run against its own seeded server on loopback (OUT/measured); simulate the same scenario with that
calibration and a loopback network (OUT/sim); simulate the planning workload with that calibration
(OUT/plan); build the report; print a terminal table.

Two workloads, kept apart. The agreement load (a message every 2-3 s in every order) is chatty on purpose:
simulated and measured statistics converge in seconds, and each pair is judged against its bar (latency
p50/p95 15 % or 1 ms, requests/s and bytes per poll 5 %, server utilization 10 %). No plan is made for it.
The planning workload (--workload, default seed-chat: the seed's order chat, 'pollbench workloads' lists
the presets) is what the capacity plan, the seed's claims and the recommendation are for; its clients per
process come from knees (OUT/knees/measured, OUT/knees/sim) when a knee search wrote them, and the report
says plainly when none did.

Profiles (each bounded in time; flags override):
  default  100 receivers per strategy, 30 s of sending, a message every 3 s per order,
           4 strategies at a time: about 2-3 minutes on 2 cores (at most 5)
  --quick  50 receivers, 15 s of sending, a message every 2 s, every strategy at once, calibration
           alongside the load tests: about 60-90 s

Examples:
  pollbench compare                       # then open compare/report.html
  pollbench compare --quick --out results/compare
  pollbench compare --workload my-chat.toml   # plan for your own traffic
  pollbench compare --strategies poll:3,sse --users 200 --duration 60s
  pollbench compare --server-cpu-quota 0.2     # every server it starts at 0.2 of a core, once seeded

Exit codes: 0 ok (disagreements are reported, not failures); 2 bad input or a part could not run;
130 interrupted.
"""

DEFAULT_KNEES = "seed-dashboard:3,poll:3,sse"
"""Knees a default comparison searches: the seed's dashboard (its "100+ per server" claim), the same
polling done differentially, and push."""
QUICK_KNEES = "seed-dashboard:3"
"""The one knee --quick searches: the verdict on the seed's claim."""
KNEE_QUOTA = 0.2
"""Default quota of the knee searches (pollbench.comparison.KNEE_QUOTA, repeated here so --help needs no
import of the comparison)."""

SIM_MIN_DURATION_S = 600.0
"""Simulated seconds at least: the steady state of the slowest poll (adaptive backs off to 30 s)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """Sizes of one comparison run."""

    users: int
    """Receiving clients per strategy (measured and simulated)."""
    duration_s: float
    """Seconds the load test's senders post."""
    message_interval_s: float
    """Mean seconds between messages in one order."""
    parallel: int
    """Strategies measured at the same time (each with its own server)."""
    calibrate_alongside: bool
    """Calibrate while the load tests run (faster, noisier) instead of before them."""


DEFAULT = Profile(users=100, duration_s=30.0, message_interval_s=3.0, parallel=4, calibrate_alongside=False)
QUICK = Profile(users=50, duration_s=15.0, message_interval_s=2.0, parallel=8, calibrate_alongside=True)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="the 60-90 s profile (see above)")
    parser.add_argument("--out", default="compare", metavar="DIR", help="output directory (default: compare)")
    from pollbench.workload import DEFAULT_WORKLOAD, preset_names

    parser.add_argument(
        "--scenario", metavar="FILE.toml", help="scenario of the agreement load (flags override)"
    )
    parser.add_argument(
        "--workload",
        default=DEFAULT_WORKLOAD,
        metavar="PRESET|FILE",
        help=f"planning workload the plan, claims and recommendation are for: a preset "
        f"({', '.join(preset_names())}) or a scenario file (default: {DEFAULT_WORKLOAD})",
    )
    parser.add_argument("--strategies", default=None, help="strategy specs or 'all' (default: all)")
    parser.add_argument("--users", type=int, default=None, help="receiving clients per strategy")
    parser.add_argument("--duration", default=None, help="seconds the load test sends, e.g. 30s")
    parser.add_argument("--message-interval", default=None, help="mean seconds between messages per order")
    parser.add_argument("--parallel", type=int, default=None, help="strategies measured at the same time")
    parser.add_argument("--seed", type=int, default=None, help="seed of every random stream (default 1)")
    parser.add_argument(
        "--calibration",
        default=None,
        metavar="FILE",
        help="use this calibration JSON instead of measuring one ('pollbench calibrate' writes it)",
    )
    add_target_arguments(
        parser,
        host_help="measure a running server instead of embedded ones (loopback unless --allow-remote; "
        "needs --fixtures)",
    )
    parser.add_argument("--fixtures", default=None, metavar="FILE", help="fixtures file of the --host server")
    parser.add_argument(
        "--knees",
        default=None,
        metavar="LIST|all|none",
        help=f"strategies whose knee is searched, measured and simulated, for the planning workload "
        f"(default {DEFAULT_KNEES}; --quick: {QUICK_KNEES}; all: every strategy of the run; none: skip)",
    )
    parser.add_argument(
        "--knee-window",
        default=None,
        metavar="S",
        help="seconds of messages judged per knee probe (default 20s; --quick 10s)",
    )
    add_cpu_quota_argument(
        parser,
        help=f"CPU quota of the knee searches' servers, a share of one core in a CPU-quota cgroup (default "
        f"{KNEE_QUOTA:g}: the knee then falls where the load generator on the other core reaches it; needs "
        "root or a delegated cgroup); the agreement runs and the calibration stay on a whole core",
    )


def _seconds(flag: str, text: str | None, default: float) -> float:
    if text is None:
        return default
    value = duration_flag(flag, text)
    if not value > 0:
        raise CommandError(f"{flag} must be more than 0 s")
    return value


def planning_workload(args: argparse.Namespace) -> Any:
    """The --workload as a pollbench.workload.Workload; WorkloadError (a ScenarioError) on a bad one."""
    from pollbench.workload import load_workload

    return load_workload(args.workload)


def _plan(args: argparse.Namespace) -> tuple[Any, Profile, Any]:
    """(scenario of the measured run, profile, strategies) from flags; CommandError on bad input."""
    from pollbench.scenario import ScenarioError, load_scenario
    from pollbench.strategies import StrategyError, parse_strategies

    base = QUICK if args.quick else DEFAULT
    users = args.users if args.users is not None else base.users
    if users < 1:
        raise CommandError(f"--users must be at least 1, got {users}")
    parallel = args.parallel if args.parallel is not None else base.parallel
    if parallel < 1:
        raise CommandError(f"--parallel must be at least 1, got {parallel}")
    profile = Profile(
        users=users,
        duration_s=_seconds("--duration", args.duration, base.duration_s),
        message_interval_s=_seconds("--message-interval", args.message_interval, base.message_interval_s),
        parallel=parallel,
        calibrate_alongside=base.calibrate_alongside,
    )
    try:
        scenario = load_scenario(args.scenario)
        strategies = parse_strategies(args.strategies or ",".join(scenario.strategies))
        scenario = scenario.override(
            clients=profile.users,
            admins=0,  # the load test's receivers are customers; admins only send
            audience="order",
            message_interval=profile.message_interval_s,
            duration=profile.duration_s,
            rtt_ms=LOOPBACK_RTT_MS,
            rtt_sigma=0.0,
            strategies=tuple(s.spec for s in strategies),
            seed=args.seed,
        )
    except (ScenarioError, StrategyError) as exc:
        raise CommandError(str(exc)) from None
    return scenario, profile, strategies


def _check_paths(args: argparse.Namespace) -> tuple[Path, str | None, Path | None]:
    out = Path(args.out).resolve()
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {out}: exists and is not a directory")
    host = check_target(args.host, allow_remote=args.allow_remote) if args.host else None
    fixtures = Path(args.fixtures).resolve() if args.fixtures else None
    if host and fixtures is None:
        raise CommandError("--host needs --fixtures (the file 'pollbench serve --fixtures' wrote)")
    if fixtures is not None and not fixtures.is_file():
        raise CommandError(f"--fixtures {fixtures}: no such file")
    if args.calibration and not Path(args.calibration).is_file():
        raise CommandError(f"--calibration {args.calibration}: no such file")
    return out, host, fixtures


def _knee_settings(args: argparse.Namespace) -> Any:
    """How each knee probe runs: the defaults, shorter for --quick (a 10 s window, about 100 latency
    samples, after a 3 s settle), the window as --knee-window says."""
    from loadtests.knee import KneeSettings

    settings = KneeSettings(window_s=10.0, settle_s=3.0) if args.quick else KneeSettings()
    if args.knee_window is not None:
        settings = dataclasses.replace(settings, window_s=_seconds("--knee-window", args.knee_window, 0.0))
    return settings


def _knees(args: argparse.Namespace, strategies: Any, host: str | None) -> Any:
    """The strategies whose knee the comparison searches (--knees), checked before any load."""
    from pollbench.strategies import StrategyError, parse_strategies

    text = args.knees if args.knees is not None else (QUICK_KNEES if args.quick else DEFAULT_KNEES)
    if text.strip().lower() == "none":
        return ()
    if host is not None:
        if args.knees is not None:
            raise CommandError("--knees searches servers pollbench starts itself; not with --host")
        return ()
    if text.strip().lower() == "all":
        return tuple(strategies)
    try:
        return parse_strategies(text)
    except StrategyError as exc:
        raise CommandError(f"--knees: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from loadtests.server_process import sigterm_as_interrupt

    scenario, profile, strategies = _plan(args)
    workload = planning_workload(args)
    out, host, fixtures = _check_paths(args)
    knees = _knees(args, strategies, host)
    if host is not None and args.server_cpu_quota is not None:
        cpu_quota_flag(args.server_cpu_quota, host=host)  # refused: no knee runs against --host
    knee_settings = _knee_settings(args)
    # The agreement runs stay on a whole core; a scenario file's quota, like the flag, is the knees'.
    quota = cpu_quota_flag(args.server_cpu_quota) or scenario.server_cpu_quota or KNEE_QUOTA
    scenario = dataclasses.replace(scenario, server_cpu_quota=None)
    out.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 150)
    started = time.monotonic()
    with sigterm_as_interrupt():
        from pollbench.comparison import ComparisonRun

        comparison = ComparisonRun(
            out=out,
            scenario=scenario,
            profile_users=profile.users,
            duration_s=profile.duration_s,
            message_interval_s=profile.message_interval_s,
            parallel=profile.parallel if host is None else 1,
            calibrate_alongside=profile.calibrate_alongside,
            calibration_file=Path(args.calibration).resolve() if args.calibration else None,
            host=host,
            fixtures=fixtures,
            quick=args.quick,
            sim_duration_s=max(SIM_MIN_DURATION_S, profile.duration_s),
            console=console,
            workload=workload,
            server_cpu_quota=quota,
            knee_strategies=knees,
            knee_settings=knee_settings,
        )
        files = comparison.run(strategies)
    wall = time.monotonic() - started
    stdout = Console(width=None if sys.stdout.isatty() else 150, highlight=False)
    stdout.print(comparison.terminal_table(files))
    for line in comparison.closing_lines(files):
        stdout.print(line)
    stdout.print(f"report: {files.html}  ({wall:.0f} s)")
    return 0
