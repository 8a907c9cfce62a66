"""``pollbench capacity``: clients per server process under an SLO, and processes needed for M users.

``--mode sim`` searches with the simulator (sim.capacity) and prints the probes and knees, or with
``--json`` the capacity report (schema 2); ``--out DIR`` writes it as ``DIR/capacity.json``. ``--mode
measure`` hands over to the load tests (``loadtests.capacity``: ``add_arguments(parser)`` and ``run(args,
slo, scenario, workload) -> int``), which start Locust as a subprocess and so never import it here.
"""

from __future__ import annotations

import argparse
import json
import sys

from loadtests import capacity as measure_capacity
from pollbench.commands.simulate import add_scenario_arguments

HELP = "max clients per server process under an SLO, and processes needed for M users"
DESCRIPTION = """\
Find, per strategy, the most clients one server process holds (its knee) while p99 delivery latency, CPU
(of the process's quota), open connections, memory and failures stay within the SLO, then the processes
needed for --users clients.
Example:

  pollbench capacity --mode sim --strategies poll:3,poll:10,sse --slo-p99 10 --users 100000
  pollbench capacity --mode sim --workload seed-chat --calibration compare/calibration.json
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mode",
        choices=("sim", "measure"),
        default="sim",
        help="sim = search with the simulator (default); measure = real load tests",
    )
    add_scenario_arguments(parser)
    parser.add_argument(
        "--slo-p99",
        type=float,
        default=None,
        metavar="S",
        help="p99 delivery latency bound, s (default per strategy: its worst idle wait + 2 s, so poll:3 5 s)",
    )
    parser.add_argument(
        "--slo-utilization",
        type=float,
        default=0.95,
        metavar="U",
        help="CPU busy-fraction bound, of the process's quota or core, 0..1 (0.95: not saturated)",
    )
    parser.add_argument(
        "--max-fail-ratio", type=float, default=0.01, metavar="R", help="failed-request share bound (0.01)"
    )
    parser.add_argument(
        "--slo-connections",
        type=int,
        metavar="N",
        help="open-connection bound per process (default: the server's descriptor limit)",
    )
    parser.add_argument(
        "--slo-memory-mb",
        type=float,
        metavar="MB",
        help="connection memory budget per process (default from calibration, 2048)",
    )
    parser.add_argument("--users", type=int, default=100_000, metavar="M", help="users to plan for (100000)")
    parser.set_defaults(capacity_duration="10m")
    measure_capacity.add_arguments(parser)  # flags of --mode measure (step users, step seconds, ...)


def run(args: argparse.Namespace) -> int:
    if args.mode == "measure":
        return _run_measure(args)
    return _run_sim(args)


def _run_measure(args: argparse.Namespace) -> int:
    from pollbench.capacity import Slo
    from pollbench.commands import CommandError
    from pollbench.commands.simulate import scenario_from_args

    if not args.strategies:
        raise CommandError("--mode measure needs --strategies (each one runs a real knee search)")
    for flag, value in (("--max-clients", args.max_clients), ("--start-clients", args.start_clients)):
        if value is not None and value < 1:
            raise CommandError(f"{flag} must be at least 1, got {value}")
    if args.start_clients is not None and args.start_clients > args.max_clients:
        raise CommandError("--start-clients must not exceed --max-clients")
    if not 0 < args.tolerance < 1:
        raise CommandError(f"--tolerance must be between 0 and 1, got {args.tolerance:g}")
    if args.min_message_rate < 0 or (args.processes is not None and args.processes < 1):
        raise CommandError("--min-message-rate must be >= 0 and --processes at least 1")
    scenario = scenario_from_args(args).override(admins=0, audience="order")
    try:
        slo = Slo(
            p99_s=args.slo_p99,
            utilization=args.slo_utilization,
            fail_ratio=args.max_fail_ratio,
            connections=args.slo_connections,
            memory_bytes=int(args.slo_memory_mb * 1024**2) if args.slo_memory_mb else 2 * 1024**3,
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    return int(measure_capacity.run(args, slo, scenario, args.workload or args.scenario or "flags"))


def _run_sim(args: argparse.Namespace) -> int:
    """The simulated knee search: the measured search's SLO and probe workload, simulated probes."""
    from pathlib import Path

    from pollbench.capacity import Slo, write_capacity
    from pollbench.commands import CommandError
    from pollbench.commands.simulate import load_calibration_or_fail, scenario_from_args
    from pollbench.results import to_jsonable
    from pollbench.strategies import parse_strategies
    from sim.capacity import simulated_capacity

    if args.users is None or args.users < 1:
        raise CommandError(f"--users must be a whole number >= 1, got {args.users}")
    if args.min_message_rate < 0:
        raise CommandError("--min-message-rate must be >= 0")
    if args.duration is None:
        args.duration = args.capacity_duration  # searching runs many simulations: 10 min each by default
    scenario = scenario_from_args(args)
    calibration = load_calibration_or_fail(scenario.calibration)
    memory = int(args.slo_memory_mb * 1024**2) if args.slo_memory_mb else calibration.memory_budget_bytes
    try:
        slo = Slo(
            p99_s=args.slo_p99,
            utilization=args.slo_utilization,
            fail_ratio=args.max_fail_ratio,
            connections=args.slo_connections,
            memory_bytes=memory,
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    workload = args.workload or (Path(args.scenario).stem if args.scenario else "flags")
    report = simulated_capacity(parse_strategies(scenario.strategies), scenario, slo, calibration,
                                workload=workload, min_message_rate=args.min_message_rate)  # fmt: skip
    written = write_capacity(args.out, report) if args.out else None
    if args.json:
        print(json.dumps(to_jsonable(report.to_dict()), indent=2, allow_nan=False))
        return 0
    from rich.console import Console

    console = Console(width=None if sys.stdout.isatty() else 150)
    for knee in report.knees:
        console.print(measure_capacity.steps_table(knee, report.slo))
    console.print(measure_capacity.knees_table(report, args.users))
    if written:
        print(f"wrote {written}")
    return 0
