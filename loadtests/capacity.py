"""``pollbench capacity --mode measure``: the most concurrent clients one server process holds, measured.

For each strategy a fresh seeded server starts, and one Locust process runs the step shape
(:mod:`loadtests.shapes`): ``--step-users`` more receiving clients every ``--step-seconds``, each step
judged on p99 delivery latency (``--slo-p99``), failure ratio (``--max-fail-ratio``) and server CPU
(``--slo-utilization``). The search stops at the first step that breaks one; the step before it is the
maximum concurrent clients per server process. This is the measurement behind the seed's "100+
concurrent pollers per server" claim, following the websocket-shootout method (most clients while the
latency percentile stays in bounds).

Runs in the pollbench process: it never imports Locust.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests.server_process import ServerError, ServerOptions, ServerProcess, sigterm_as_interrupt
from loadtests.steps import drain_seconds
from pollbench.capacity import servers_needed
from pollbench.commands import CommandError
from pollbench.strategies import Strategy
from pollbench.targets import add_target_arguments, check_target

__all__ = ["SearchConfig", "add_arguments", "run", "search"]

# Paths, not imports: `pollbench capacity --help` loads this module, and loadtests.runner pulls in pandas.
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
SHAPES = Path(__file__).with_name("shapes.py")


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchConfig:
    """Inputs of one measured capacity search."""

    step_users: int
    """Receiving clients added per step."""
    step_seconds: float
    """Length of each step."""
    max_steps: int
    """Upper bound on steps (the search ceiling is max_steps * step_users clients)."""
    slo_p99_s: float
    """p99 delivery latency bound."""
    max_fail_ratio: float
    """Failed-request share bound."""
    slo_utilization: float
    """Server CPU busy-fraction bound."""
    message_interval_s: float
    """Mean seconds between messages per order."""
    orders_per_customer: int
    """Orders per customer."""
    seed: int
    """Seed of every random stream."""
    out: Path
    """Directory for Locust reports, raw records and capacity.json."""
    host: str | None = None
    """Base URL of an already running server (checked by pollbench.targets); None starts one per strategy."""
    fixtures: Path | None = None
    """Fixtures file of the server at ``host`` (its customers and tokens)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of --mode measure (the capacity command already has --strategies, --slo-p99, --users...)."""
    g = parser.add_argument_group("--mode measure (real load tests, one Locust process per strategy)")
    g.add_argument("--step-users", type=int, default=100, metavar="N", help="clients added per step (100)")
    g.add_argument("--step-seconds", default="30s", metavar="S", help="length of one step (30s)")
    g.add_argument("--max-steps", type=int, default=10, metavar="K", help="stop after K steps (10)")
    g.add_argument(
        "--max-fail-ratio", type=float, default=0.01, metavar="R", help="failed share bound (0.01)"
    )
    g.add_argument(
        "--out", metavar="DIR", help="directory for capacity.json and Locust reports (./capacity-measured)"
    )
    add_target_arguments(
        g,  # type: ignore[arg-type]  # an argument group takes the same add_argument calls
        host_help="search against this running server instead of starting one per strategy "
        "(loopback unless --allow-remote; needs --fixtures)",
    )
    g.add_argument("--fixtures", metavar="FILE", help="fixtures file of the server at --host")


def _config(args: argparse.Namespace) -> tuple[SearchConfig, tuple[Strategy, ...]]:
    from pollbench.scenario import load_scenario, parse_duration
    from pollbench.strategies import parse_strategies

    if not args.strategies:
        raise CommandError(
            "--mode measure needs --strategies (each one runs up to --max-steps real load steps)"
        )
    strategies = parse_strategies(args.strategies)
    scenario = load_scenario(args.scenario)
    step_seconds = parse_duration(args.step_seconds)
    if args.step_users < 1 or args.max_steps < 1:
        raise CommandError("--step-users and --max-steps must be at least 1")
    if not (math.isfinite(args.slo_p99) and args.slo_p99 > 0):
        raise CommandError(f"--slo-p99 must be a positive number of seconds, got {args.slo_p99:g}")
    if not 0 <= args.max_fail_ratio <= 1 or not 0 < args.slo_utilization <= 1:
        raise CommandError("--max-fail-ratio must be within 0..1 and --slo-utilization within (0, 1]")
    interval = parse_duration(args.message_interval) if args.message_interval else 10.0
    host = check_target(args.host, allow_remote=args.allow_remote) if args.host else None
    if host and not args.fixtures:
        raise CommandError("--host needs --fixtures (the file 'pollbench serve --fixtures' wrote)")
    config = SearchConfig(
        step_users=args.step_users,
        step_seconds=step_seconds,
        max_steps=args.max_steps,
        slo_p99_s=float(args.slo_p99),
        max_fail_ratio=float(args.max_fail_ratio),
        slo_utilization=float(args.slo_utilization),
        message_interval_s=interval,
        orders_per_customer=args.orders_per_client or scenario.orders_per_client,
        seed=args.seed if args.seed is not None else scenario.seed,
        out=Path(args.out or "capacity-measured").resolve(),
        host=host,
        fixtures=Path(args.fixtures).resolve() if host else None,
    )
    for s in strategies:
        need = min(step_seconds / 3, args.step_users / 50.0 + 1.0) + drain_seconds(s) + 2.0
        if step_seconds < need:
            raise CommandError(
                f"--step-seconds {step_seconds:g} is too short for {s.spec}: use at least {math.ceil(need)}"
            )
    return config, strategies


def _locust_command(
    config: SearchConfig, strategy: Strategy, base_url: str, fixtures: Path, raw: Path
) -> list[str]:
    from loadtests.runner import slug

    name = slug(strategy.spec)
    customers_per_sender = 25
    return [
        sys.executable, "-m", "locust", "-f", f"{LOCUSTFILE},{SHAPES}", "--headless", "--host", base_url,
        "--exit-code-on-error", "0", "--only-summary", "--stop-timeout", "0",
        "--csv", str(config.out / "locust" / name), "--html", str(config.out / "locust" / f"{name}.html"),
        "--strategy", strategy.spec, "--fixtures", str(fixtures), "--raw-dir", str(raw),
        "--receivers", "0", "--customers-per-sender", str(customers_per_sender),
        "--message-interval", f"{config.message_interval_s:g}", "--seed", str(config.seed),
        "--step-users", str(config.step_users), "--step-seconds", f"{config.step_seconds:g}",
        "--max-steps", str(config.max_steps), "--slo-p99", f"{config.slo_p99_s:g}",
        "--max-fail-ratio", f"{config.max_fail_ratio:g}", "--slo-utilization", f"{config.slo_utilization:g}",
        "--step-spawn-rate", "50",
    ]  # fmt: skip


def search(config: SearchConfig, strategy: Strategy) -> dict[str, Any]:
    """One strategy's measured search: its per-step table and the last good step."""
    from loadtests.fixtures import FixturesError
    from loadtests.runner import check_fixtures, slug

    raw = config.out / "raw" / slug(strategy.spec)
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "steps.jsonl").unlink(missing_ok=True)
    (config.out / "locust").mkdir(parents=True, exist_ok=True)
    customers = config.step_users * config.max_steps
    options = ServerOptions(
        customers=customers,
        orders_per_customer=config.orders_per_customer,
        admins=1,
        workdir=config.out / "server" / slug(strategy.spec),
    )
    limit = config.max_steps * (config.step_seconds + 5) + 120
    log_path = config.out / "locust" / f"{slug(strategy.spec)}.log"
    try:
        if config.host and config.fixtures:
            check_fixtures(config.fixtures, customers)
            with log_path.open("wb") as log:
                cmd = _locust_command(config, strategy, config.host, config.fixtures, raw)
                subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=limit, check=False)
        else:
            with ServerProcess(options) as server, log_path.open("wb") as log:
                cmd = _locust_command(config, strategy, server.base_url, server.fixtures, raw)
                subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=limit, check=False)
    except FixturesError as exc:
        raise CommandError(str(exc)) from None
    except ServerError as exc:
        raise CommandError(f"{strategy.spec}: {exc}") from None
    except subprocess.TimeoutExpired:
        raise CommandError(f"{strategy.spec}: the capacity run did not finish within {limit:.0f} s") from None
    steps_file = raw / "steps.jsonl"
    steps = [json.loads(line) for line in steps_file.read_text().splitlines()] if steps_file.exists() else []
    if not steps:
        raise CommandError(f"{strategy.spec}: no step was judged; see {log_path}")
    good = [s for s in steps if s["ok"]]
    first_bad = next((s for s in steps if not s["ok"]), None)
    return {
        "strategy": strategy.spec,
        "max_clients": good[-1]["users"]
        if good and (first_bad is None or good[-1]["step"] < first_bad["step"])
        else 0,
        "limited_by": first_bad["reasons"] if first_bad else [],
        "ceiling": first_bad is None,
        "steps": steps,
    }


def run(args: argparse.Namespace) -> int:
    """Entry point of ``pollbench capacity --mode measure``."""
    config, strategies = _config(args)
    rows = []
    for strategy in strategies:
        with sigterm_as_interrupt():
            row = search(config, strategy)
        m = row["max_clients"]
        row["servers_for_users"] = servers_needed(args.users, m) if args.users else None
        rows.append(row)
    out = {
        "source": "measured",
        "users": args.users,
        "slo": {
            "p99_s": config.slo_p99_s,
            "fail_ratio": config.max_fail_ratio,
            "server_utilization": config.slo_utilization,
        },
        "step_users": config.step_users,
        "step_seconds": config.step_seconds,
        "message_interval_s": config.message_interval_s,
        "strategies": rows,
    }
    config.out.mkdir(parents=True, exist_ok=True)
    (config.out / "capacity.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        _print(out)
    return 0


def _print(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 150)
    for row in out["strategies"]:
        t = Table(title=f"{row['strategy']}: measured steps (SLO p99 <= {out['slo']['p99_s']:g} s)")
        for col in (
            "step",
            "clients",
            "messages",
            "late",
            "p50 s",
            "p99 s",
            "fail",
            "server CPU",
            "Locust CPU",
            "ok",
        ):
            t.add_column(col, justify="right")
        for s in row["steps"]:
            t.add_row(
                str(s["step"]), str(s["users"]), str(s["messages"]), str(s["undelivered"]),
                _f(s["p50_s"]), _f(s["p99_s"]), f"{s['fail_ratio']:.1%}", _pct(s["server_utilization"]),
                f"{s['generator_cpu_percent']:.0f}%", "yes" if s["ok"] else "; ".join(s["reasons"]),
            )  # fmt: skip
        console.print(t)
    summary = Table(title="Capacity per server process (measured)")
    for col in ("strategy", "max clients/process", "limited by", f"processes for {out['users']:,} users"):
        summary.add_column(col, justify="left" if col == "strategy" else "right")
    for row in out["strategies"]:
        need = row["servers_for_users"]
        summary.add_row(
            row["strategy"],
            f"{row['max_clients']:,}" + ("+" if row["ceiling"] else ""),
            "; ".join(row["limited_by"]) or "search ceiling",
            "-" if need is None else f"{need:,}",
        )
    console.print(summary)


def _f(x: Any) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def _pct(x: Any) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.0%}"
