"""``pollbench capacity``: clients per server process under an SLO, and processes needed for M users.

``--mode sim`` searches with the simulator (sim.capacity) and prints a table, or with ``--json`` the
capacity report (schema 2); ``--out DIR`` writes it as ``DIR/capacity.json``. ``--mode measure`` hands
over to the load tests (``loadtests.capacity``: ``add_arguments(parser)`` and ``run(args) -> int``), which
start Locust as a subprocess and so never import it here.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from loadtests import capacity as measure_capacity
from pollbench.capacity import CapacityReport, Slo
from pollbench.commands.simulate import add_scenario_arguments

HELP = "max clients per server process under an SLO, and processes needed for M users"
DESCRIPTION = """\
Find, per strategy, the most clients one server process holds (its knee) while p99 delivery latency,
CPU utilization (of the process's quota), open connections and memory stay within the SLO, then the
processes needed for --users clients. Example:

  pollbench capacity --mode sim --strategies poll:3,poll:10,sse --slo-p99 10 --users 100000
"""

MEASURE_P99_S = 15.0
"""--slo-p99 of --mode measure when not given (the simulated search defaults per strategy instead)."""
MEASURE_UTILIZATION = 0.7
"""--slo-utilization of --mode measure when not given."""


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
        metavar="S",
        help="p99 delivery latency bound, s (sim: each strategy's worst-case wait + 2 s; measure: 15)",
    )
    parser.add_argument(
        "--slo-utilization",
        type=float,
        metavar="U",
        help=f"CPU utilization bound (of the quota), 0..1 (sim: {Slo().utilization:g}; measure: 0.7)",
    )
    parser.add_argument(
        "--slo-connections",
        type=int,
        metavar="N",
        help="open-connection bound per process (sim; default: the calibration's descriptor limit)",
    )
    parser.add_argument(
        "--slo-memory-mb",
        type=float,
        metavar="MB",
        help="resident memory bound per process (default from calibration, 2048)",
    )
    parser.add_argument("--users", type=int, default=100_000, metavar="M", help="users to plan for (100000)")
    parser.set_defaults(capacity_duration="10m")
    measure_capacity.add_arguments(parser)  # flags of --mode measure (step users, step seconds, --out...)


def run(args: argparse.Namespace) -> int:
    if args.mode == "measure":
        # The measured search takes plain numbers; keep its defaults where the flags were not given.
        if args.slo_p99 is None:
            args.slo_p99 = MEASURE_P99_S
        if args.slo_utilization is None:
            args.slo_utilization = MEASURE_UTILIZATION
        return int(measure_capacity.run(args))
    return _run_sim(args)


def _slo(args: argparse.Namespace, calibration: Any) -> Slo:
    from pollbench.commands import CommandError

    memory = int(args.slo_memory_mb * 1024**2) if args.slo_memory_mb else calibration.memory_budget_bytes
    try:
        return Slo(
            p99_s=args.slo_p99,
            utilization=Slo().utilization if args.slo_utilization is None else args.slo_utilization,
            connections=args.slo_connections,
            memory_bytes=memory,
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def _run_sim(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pollbench.capacity import write_capacity
    from pollbench.commands import CommandError
    from pollbench.commands.simulate import load_calibration_or_fail, scenario_from_args
    from pollbench.results import to_jsonable
    from pollbench.strategies import parse_strategies
    from sim.capacity import simulated_capacity

    if args.users is None or args.users < 1:
        raise CommandError(f"--users must be a whole number >= 1, got {args.users}")
    if args.duration is None:
        args.duration = args.capacity_duration  # searching runs many simulations: 10 min each by default
    scenario = scenario_from_args(args).override(admins=0)
    calibration = load_calibration_or_fail(scenario.calibration)
    slo = _slo(args, calibration)
    workload = Path(args.scenario).stem if args.scenario else "default"
    report = simulated_capacity(parse_strategies(scenario.strategies), scenario, slo, calibration,
                                workload=workload)  # fmt: skip
    written = write_capacity(args.out, report) if args.out else None
    if args.json:
        print(json.dumps(to_jsonable(report.to_dict()), indent=2, allow_nan=False))
        return 0
    _print_table(report, args.users, calibration.connection_limit)
    if written:
        print(f"wrote {written}")
    return 0


def _print_table(report: CapacityReport, users: int, connection_limit: int) -> None:
    from rich.console import Console
    from rich.table import Table

    from pollbench.capacity import servers_needed

    slo = report.slo
    p99 = f"{slo.p99_s:g} s" if slo.p99_s is not None else "worst-case wait + 2 s"
    quota = report.scenario.get("server_cpu_quota")
    table = Table(
        title=f"Capacity per server process (simulated; SLO: p99 <= {p99}, "
        f"CPU <= {slo.utilization:.0%} of {'a whole core' if quota is None else f'{quota:g} core'}, "
        f"connections < {slo.connections or connection_limit:,}, RSS <= {slo.memory_bytes / 1024**2:,.0f} MB)"
    )
    columns = ["strategy", "knee (clients/process)", "limited by", "p99 at knee", "CPU at knee"]
    if quota is not None:
        columns.append("on a whole core")
    columns.append(f"processes for {users:,} users")
    for col in columns:
        table.add_column(col, justify="left" if col in ("strategy", "limited by") else "right")
    for knee in report.knees:
        at = next((s for s in reversed(knee.steps) if s.ok and s.clients == knee.max_clients), None)
        need = servers_needed(users, knee.max_clients)
        row = [
            knee.strategy,
            "0 (SLO unreachable)"
            if knee.max_clients == 0
            else f"{knee.max_clients:,}" + ("+" * knee.ceiling),
            ", ".join(knee.limited_by) or "search ceiling",
            "-" if at is None else f"{at.p99_s:.3g} s",
            "-" if at is None else f"{at.server_utilization:.0%}",
        ]
        if quota is not None:
            full = knee.full_core_clients
            row.append("-" if full is None else f"{full:,} ({knee.full_core_limit or '?'})")
        row.append("-" if need is None else f"{need:,}")
        table.add_row(*row)
    Console().print(table)
