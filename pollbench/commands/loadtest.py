"""``pollbench loadtest``: measure every strategy with Locust against the reference server."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pollbench.commands import (
    CommandError,
    add_cpu_quota_argument,
    cpu_quota_flag,
    duration_flag,
    refuse_quota_with_host,
)
from pollbench.targets import LOOPBACK_RTT_MS, add_target_arguments, check_target, is_loopback_host

HELP = "measure delivery latency, wire bytes and server cost of each strategy with Locust"
DESCRIPTION = """\
Run a headless Locust load test per strategy against the reference server and write the measured results
(summary.json with "source": "measured", deliveries.parquet, Locust's CSV/HTML per strategy) to --out.

--users counts receiving clients of the strategy: each is a customer from the fixtures watching its own
orders. Sender users come on top and post into those orders, alternately as the customer and as an admin,
with a mean --message-interval per order (Poisson). For --duration the senders post; then receivers get a
drain period (the strategy's slowest poll + 2 s) to catch up, and any message still missing is a gap.
Without --host a fresh seeded 'pollbench serve' is started on a free loopback port for each strategy and
stopped afterwards. --host accepts only loopback servers (127.0.0.0/8, ::1, localhost) unless you also pass
--allow-remote. --server-cpu-quota Q holds each started server to Q of one core once it has seeded its
data (see docs/loadtests.md); its server CPU is then the busy share of Q.

Delivery latency = time the client held the message - the message's createdAt (same machine clock).

Examples:
  pollbench loadtest --strategies poll:3,sse,ws --users 100 --duration 20s --out results/measured
  pollbench loadtest --strategies all --users 200 --duration 60s --out out/ --check-p99-delivery 5
  pollbench loadtest --strategies sse --users 2000 --processes 2 --duration 60s --out out/
  pollbench loadtest --strategies poll:3 --users 200 --duration 30s --server-cpu-quota 0.2 --out out/

Exit codes: 0 ok; 1 a --check-* threshold failed; 2 bad input (or the server/Locust could not run);
130 interrupted.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--strategies", default="all", help="comma-separated strategy specs or 'all' (default all)"
    )
    parser.add_argument(
        "--users", type=int, default=None, help="receiving clients per strategy (default 100)"
    )
    parser.add_argument(
        "--spawn-rate", type=float, default=None, help="users started per second (default max(10, users/2))"
    )
    parser.add_argument("--duration", default=None, help="how long senders post, e.g. 60s, 2m (default 60s)")
    parser.add_argument(
        "--message-interval", default=None, help="mean seconds between messages per order (default 10s)"
    )
    parser.add_argument(
        "--scenario", default=None, help="scenario TOML (clients, orders, admins, interval...)"
    )
    add_target_arguments(
        parser,
        host_help="base URL of a running server, e.g. http://127.0.0.1:8080 (loopback unless "
        "--allow-remote; default: start one per strategy)",
    )
    parser.add_argument("--fixtures", default=None, help="fixtures file of the server at --host")
    add_cpu_quota_argument(parser)
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="Locust worker processes on this machine (default 1: one process)",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        metavar="N",
        help="strategies measured at the same time, each with its own server (default 1; not with --host)",
    )
    parser.add_argument(
        "--master", action="store_true", help="run a Locust master and wait for external workers"
    )
    parser.add_argument(
        "--expect-workers", type=int, default=1, help="workers the --master waits for (default 1)"
    )
    parser.add_argument(
        "--master-port",
        type=int,
        default=5557,
        help="port the --master listens on; workers pass it as 'locust --worker --master-port' "
        "(default 5557)",
    )
    parser.add_argument(
        "--drain",
        default=None,
        help="seconds receivers keep listening after senders stop "
        "(default: the strategy's slowest poll + 2 s)",
    )
    parser.add_argument(
        "--admin-panels", type=int, default=0, help="seed admin-panel users as background load (default 0)"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of every random stream (default 1)")
    parser.add_argument("--out", required=True, help="results directory")
    checks = parser.add_argument_group("CI thresholds (exit code 1 when one fails)")
    checks.add_argument(
        "--check-p99-delivery", type=float, default=None, metavar="S", help="max p99 latency, s"
    )
    checks.add_argument(
        "--check-p95-delivery", type=float, default=None, metavar="S", help="max p95 latency, s"
    )
    checks.add_argument(
        "--check-fail-ratio", type=float, default=None, metavar="R", help="max failed share (0.01)"
    )


def _positive(name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise CommandError(f"{name} must be a positive number, got {value:g}")


def build_config(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(LoadTestConfig, strategies, scenario) from the command line; CommandError on bad input."""
    from loadtests.runner import LoadTestConfig
    from pollbench.scenario import load_scenario
    from pollbench.strategies import parse_strategies

    strategies = parse_strategies(args.strategies)
    scenario = load_scenario(args.scenario)
    users = args.users if args.users is not None else (scenario.clients if args.scenario else 100)
    duration = (
        duration_flag("--duration", args.duration)
        if args.duration
        else (scenario.duration if args.scenario else 60.0)
    )
    interval = (
        duration_flag("--message-interval", args.message_interval)
        if args.message_interval
        else (scenario.message_interval if args.scenario else 10.0)
    )
    if users < 1:
        raise CommandError(f"--users must be at least 1, got {users}")
    _positive("--spawn-rate", args.spawn_rate)
    for name in ("check_p99_delivery", "check_p95_delivery"):
        _positive("--" + name.replace("_", "-"), getattr(args, name))
    if args.check_fail_ratio is not None and not 0 <= args.check_fail_ratio <= 1:
        raise CommandError(f"--check-fail-ratio must be between 0 and 1, got {args.check_fail_ratio:g}")
    if args.admin_panels < 0:
        raise CommandError(f"--admin-panels must be zero or more, got {args.admin_panels}")
    if not 1 <= args.master_port <= 65535:
        raise CommandError(f"--master-port must be 1..65535, got {args.master_port}")
    if args.processes < 1 or args.expect_workers < 1:
        raise CommandError("--processes and --expect-workers must be at least 1")
    if args.parallel < 1:
        raise CommandError(f"--parallel must be at least 1, got {args.parallel}")
    if args.parallel > 1 and (args.host or args.master):
        raise CommandError(
            "--parallel runs one server per strategy; it cannot be used with --host or --master"
        )
    host = check_target(args.host, allow_remote=args.allow_remote) if args.host else None
    fixtures = Path(args.fixtures).resolve() if args.fixtures else None
    if host and fixtures is None:
        raise CommandError("--host needs --fixtures (the file 'pollbench serve --fixtures' wrote)")
    quota = cpu_quota_flag(args.server_cpu_quota, host=host)
    if quota is None and args.scenario:
        quota = scenario.server_cpu_quota
        refuse_quota_with_host(quota, host, source=f"{args.scenario}: server_cpu_quota")
    loopback = host is None or is_loopback_host(urlsplit(host).hostname or "")
    scenario = scenario.override(
        audience="order",  # the receivers hold every message of their orders; senders are other clients
        # The network the run had (recorded so a simulation of this summary's scenario is like for like).
        rtt_ms=LOOPBACK_RTT_MS if loopback else None,
        rtt_sigma=0.0 if loopback else None,
        clients=users,
        duration=duration,
        message_interval=interval,
        strategies=tuple(s.spec for s in strategies),
        seed=args.seed,
        server_cpu_quota=quota,
    )
    config = LoadTestConfig(
        users=users,
        spawn_rate=args.spawn_rate or max(10.0, users / 2.0),
        duration_s=duration,
        message_interval_s=interval,
        orders_per_customer=scenario.orders_per_client,
        admins=max(1, scenario.admins),
        out=Path(args.out).resolve(),
        host=host,
        fixtures=fixtures,
        processes=args.processes,
        master=args.master,
        expect_workers=args.expect_workers,
        master_port=args.master_port,
        drain_s=duration_flag("--drain", args.drain) if args.drain else None,
        admin_panels=max(0, args.admin_panels),
        hidden_fraction=scenario.hidden_fraction,
        message_bytes=scenario.message_bytes,
        seed=scenario.seed,
        parallel=args.parallel,
        server_cpu_quota=quota,
    )
    return config, strategies, scenario


def run(args: argparse.Namespace) -> int:
    from loadtests.fixtures import FixturesError
    from loadtests.server_process import sigterm_as_interrupt
    from loadtests.session import run_loadtest
    from loadtests.thresholds import Thresholds

    config, strategies, scenario = build_config(args)
    limits = Thresholds(
        p99_delivery_s=args.check_p99_delivery,
        p95_delivery_s=args.check_p95_delivery,
        fail_ratio=args.check_fail_ratio,
    )
    try:
        with sigterm_as_interrupt():
            return run_loadtest(config, strategies, scenario, limits)
    except FixturesError as exc:
        raise CommandError(str(exc)) from None
