"""``pollbench simulate``: run the capacity model for every strategy and print what each one costs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pollbench.commands import add_cpu_quota_argument

HELP = "simulate strategies at any scale (fast numpy model, SimPy reference)"
DESCRIPTION = """\
Simulate clients, network and server for each delivery strategy and report delivery latency, request rate,
empty polls, bytes, server utilization, queue waits, open connections and radio energy per client-hour.
Flags override the scenario file. Example:

  pollbench simulate --strategies all --clients 100000 --duration 1h --out results/sim

With --restart-downtime S it also models one server process dying and coming back S seconds later: how long
its clients take to reconnect (retrying with capped exponential backoff and full jitter) and how long the
reconnect storm keeps the process saturated.
"""


def add_scenario_arguments(parser: argparse.ArgumentParser) -> None:
    """Scenario flags shared by ``simulate`` and ``capacity``."""
    from pollbench.workload import preset_names

    parser.add_argument("--scenario", metavar="FILE.toml", help="scenario file (flags override it)")
    parser.add_argument(
        "--workload",
        metavar="PRESET|FILE",
        help=f"planning workload: a preset ({', '.join(preset_names())}; 'pollbench workloads' lists them) "
        "or a scenario file; its figures are labelled with its name (flags override it)",
    )
    parser.add_argument("--strategies", metavar="LIST|all", help="comma-separated strategy specs, or 'all'")
    parser.add_argument("--clients", type=int, metavar="N", help="customer clients")
    parser.add_argument("--orders-per-client", type=int, metavar="K", help="orders per customer")
    parser.add_argument("--admins", type=int, metavar="A", help="admin clients (watch every order)")
    parser.add_argument(
        "--arrivals", choices=("poisson", "periodic", "bursty"), help="message arrival process"
    )
    parser.add_argument(
        "--message-interval", metavar="SECONDS", help="mean seconds between messages per order"
    )
    parser.add_argument("--duration", metavar="3600|1h", help="simulated time")
    parser.add_argument("--rtt-ms", type=float, metavar="MS", help="median client round-trip time")
    parser.add_argument("--server-processes", type=int, metavar="C", help="server processes (event loops)")
    parser.add_argument(
        "--service-time-ms", type=float, metavar="MS", help="force this service time for every request"
    )
    parser.add_argument(
        "--calibration", metavar="FILE", help="calibration JSON (service times, bytes, memory)"
    )
    parser.add_argument("--seed", type=int, metavar="S", help="random seed")
    add_cpu_quota_argument(
        parser,
        help="model each server process held to Q of one core (0 < Q <= 1, e.g. 0.2), like a measured run "
        "with --server-cpu-quota Q (scenario key server_cpu_quota)",
    )
    parser.add_argument(
        "--engine",
        choices=("fast", "des", "auto"),
        default="fast",
        help="fast = bulk numpy model (default); des = detailed SimPy model (small runs)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")


def configure(parser: argparse.ArgumentParser) -> None:
    add_scenario_arguments(parser)
    parser.add_argument("--out", metavar="DIR", help="write summary.json and deliveries.parquet into DIR")
    parser.add_argument(
        "--restart-downtime",
        metavar="S",
        help="also model a restart of one server process down S seconds (e.g. 10, 30s, 2m; 0 = an instant "
        "restart): the reconnect storm per strategy (default: off)",
    )


def scenario_from_args(args: argparse.Namespace) -> Any:
    """The workload or scenario file (or defaults) with the given flags applied."""
    from pollbench.commands import CommandError
    from pollbench.scenario import load_scenario
    from pollbench.workload import load_workload

    flags = _scenario_flags(args)
    if args.workload is None:
        return load_scenario(args.scenario, **flags)
    if args.scenario is not None:
        raise CommandError("give --workload or --scenario, not both (a workload is a named scenario file)")
    return load_workload(args.workload, **flags).scenario


def _scenario_flags(args: argparse.Namespace) -> dict[str, Any]:
    from pollbench.commands import cpu_quota_flag

    return dict(
        strategies=args.strategies,
        clients=args.clients,
        orders_per_client=args.orders_per_client,
        admins=args.admins,
        arrivals=args.arrivals,
        message_interval=args.message_interval,
        duration=args.duration,
        rtt_ms=args.rtt_ms,
        server_processes=args.server_processes,
        service_time_ms=args.service_time_ms,
        calibration=args.calibration,
        seed=args.seed,
        server_cpu_quota=cpu_quota_flag(args.server_cpu_quota),
    )


def load_calibration_or_fail(path: str | None) -> Any:
    from pollbench.commands import CommandError
    from sim.calibration import CalibrationError, load_calibration

    try:
        return load_calibration(path)
    except CalibrationError as exc:
        raise CommandError(str(exc)) from None


def restart_downtime(value: str | None) -> float | None:
    """Seconds of --restart-downtime (None when not given); 0 is an instant restart."""
    from pollbench.commands import CommandError
    from pollbench.scenario import ScenarioError, parse_duration

    if value is None:
        return None
    try:
        seconds = 0.0 if value.strip() in ("0", "0s", "0.0") else parse_duration(value)
    except ScenarioError:
        raise CommandError(
            f"--restart-downtime must be seconds >= 0 or like '30s', '2m', got {value!r}"
        ) from None
    return seconds


def run(args: argparse.Namespace) -> int:
    from pollbench.results import to_jsonable, write_deliveries, write_summary
    from pollbench.workload import tag_summary
    from sim.run import simulate

    scenario = scenario_from_args(args)
    calibration = load_calibration_or_fail(scenario.calibration)
    downtime = restart_downtime(args.restart_downtime)
    show_progress = not args.json and sys.stderr.isatty()
    if show_progress:
        run_ = _with_progress(scenario, calibration, args.engine, downtime)
    else:
        run_ = simulate(scenario, engine=args.engine, calibration=calibration, restart_downtime_s=downtime)
    summary = run_.summary
    if args.workload is not None:
        summary = tag_summary(summary, str(args.workload))  # a workload's name is the name it was given
    sampled = any(r.extra.get("deliveries_sampled") for r in summary.strategies.values())
    if args.out:
        write_summary(args.out, summary)
        write_deliveries(args.out, run_.deliveries_columns())
    if args.json:
        from dataclasses import asdict

        print(json.dumps(to_jsonable(asdict(summary)), indent=2))
        return 0
    _print_table(summary)
    if downtime is not None:
        _print_storm_table(summary)
    if args.out:
        note = (
            " (sampled: every k-th message per strategy, see extra.deliveries_recorded_every)"
            if sampled
            else ""
        )
        print(f"wrote {args.out}/summary.json and {args.out}/deliveries.parquet{note}")
    return 0


def _with_progress(scenario: Any, calibration: Any, engine: Any, downtime: float | None) -> Any:
    from rich.progress import Progress

    from pollbench.strategies import parse_strategies
    from sim.run import simulate

    specs = [s.spec for s in parse_strategies(scenario.strategies)]
    with Progress(transient=True) as bar:
        tasks = {spec: bar.add_task(spec, total=1.0) for spec in specs}

        def progress(spec: str, fraction: float) -> None:
            bar.update(tasks[spec], completed=fraction)

        return simulate(
            scenario, engine=engine, calibration=calibration, progress=progress, restart_downtime_s=downtime
        )


def _seconds(x: float) -> str:
    """A duration as a person reads it: 850 ms, 2.5 s, 14 min, 17.8 h."""
    if x != x:
        return "-"
    if x < 1:
        return f"{x * 1000:.3g} ms"
    if x < 600:
        return f"{x:.3g} s"
    if x < 3 * 3600:
        return f"{x / 60:.3g} min"
    return f"{x / 3600:.3g} h"


def _print_table(summary: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from pollbench.workload import workload_of

    sc = summary.scenario
    workload = workload_of(sc)
    table = Table(
        title=(f"{workload}: " if workload else "")
        + f"Simulated {sc['clients']} clients x {sc['orders_per_client']} orders, {sc['duration']:g} s, "
        f"{sc['server_processes']} server process(es), seed {summary.seed}"
    )
    for col in (
        "strategy",
        "latency mean",
        "p99",
        "req/s",
        "empty polls",
        "B/client/min",
        "util",
        "wait p99",
        "open conn",
        "J/client-h",
        "delivered",
    ):
        table.add_column(col, justify="right" if col != "strategy" else "left")
    for spec, r in summary.strategies.items():
        table.add_row(
            spec,
            _seconds(r.latency_s.mean),
            _seconds(r.latency_s.p99),
            f"{r.requests_per_s:,.0f}",
            f"{r.empty_poll_fraction:.1%}",
            f"{r.bytes_per_client_per_min:,.0f}",
            f"{r.server_utilization:.0%}" + (" !" if r.extra.get("offered_load", 0) > 1 else ""),
            _seconds(r.queue_wait_s.p99),
            f"{r.open_connections:,.1f}",
            f"{r.energy_j_per_client_hour:,.0f}",
            f"{r.messages.delivered:,}/{r.messages.sent:,}",
        )
    console = Console() if sys.stdout.isatty() else Console(width=160)  # pipes and logs: no squeezed columns
    console.print(table)
    overloaded = [s for s, r in summary.strategies.items() if r.extra.get("offered_load", 0) > 1]
    if overloaded:
        console.print(
            f"[yellow]! offered load > 1: {', '.join(overloaded)} overload one process; "
            "try more --server-processes or 'pollbench capacity'[/yellow]"
        )


def _print_storm_table(summary: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    storms = {spec: r.reconnect_storm for spec, r in summary.strategies.items() if r.reconnect_storm}
    if not storms:
        return
    first = next(iter(storms.values()))
    policy = first.backoff
    table = Table(
        title=f"Reconnect storm: one server process with {first.clients:,} clients down "
        f"{first.downtime_s:g} s, clients retrying with backoff (initial {policy.get('initial_s', '?')} s, "
        f"cap {policy.get('cap_s', '?')} s, full jitter)"
    )
    for col in ("strategy", "notice", "50% back", "99% back", "all back", "refused", "peak req/s",
                "x normal", "wait peak", "wait p99", "saturated"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("strategy", "notice") else "right")
    for spec, st in storms.items():
        ratio = st.peak_rate_per_s / st.normal_rate_per_s if st.normal_rate_per_s > 0 else float("inf")
        table.add_row(
            spec,
            st.notice,
            _seconds(st.back_50_s),
            _seconds(st.back_99_s),
            _seconds(st.back_100_s),
            f"{st.failed_attempts:,}",
            f"{st.peak_rate_per_s:,.0f}",
            f"{ratio:,.1f}",
            _seconds(st.wait_peak_s),
            _seconds(st.wait_p99_s),
            _seconds(st.saturated_s),
        )
    console = Console() if sys.stdout.isatty() else Console(width=160)
    console.print(table)
    console.print(
        "times count from the crash; 'refused' = attempts while the process was down; 'saturated' = the "
        "event loop's busy period holding the longest wait (see docs/simulator.md)"
    )
