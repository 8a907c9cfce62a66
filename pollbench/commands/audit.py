"""``pollbench audit``: prove with numbers that no acknowledged message is lost, duplicated or reordered,
by any delivery strategy, even when the server is SIGKILLed mid-traffic."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from pollbench.commands import CommandError, duration_flag
from pollbench.targets import add_target_arguments, check_target

if TYPE_CHECKING:
    from loadtests.audit.config import AuditConfig

HELP = "loss audit: every acknowledged message reaches every strategy's clients, even across server crashes"
DESCRIPTION = """\
Start a seeded reference server on a free loopback port, subscribe receivers of every strategy to every
order (one client per customer per strategy), post MESSAGES messages across ORDERS orders during DURATION,
optionally SIGKILL the server every S seconds and restart it on the same database file and port, let the
receivers catch up (at most DRAIN), then reconcile, per order and per subscriber, the messages acknowledged
with a 201 against the messages each client's application received.

With --host URL --fixtures FILE it audits a server that is already running instead (loopback only unless
--allow-remote; nothing is killed): FILE is what 'pollbench serve --fixtures' wrote, and the audit posts into
the first ORDERS orders of its customers.

Clients retry with capped exponential backoff and full jitter (pollbench.reconnect) and resume from the
last seq they hold (since, Last-Event-ID, WebSocket subscribe since); they de-duplicate by seq, so
"duplicated" counts messages an application was shown twice.

Output: a progress bar on stderr, then a table (or, with --json, one JSON object on stdout):
  {"acknowledged": n, "lost": 0, "duplicated": 0, "out_of_order": 0, "server_restarts": k,
   "per_strategy": {"poll:3": {"delivered": n, "lost": 0, "duplicated": 0, "out_of_order": 0}, ...}, ...}

Exit codes: 0 nothing lost, duplicated, reordered or leaked; 1 any of those non-zero (or nothing was
acknowledged); 2 bad input; 130 interrupted (the server is stopped in every case).

Examples:
  pollbench audit --duration 60 --kill-server-every 10
  pollbench audit --duration 5m --kill-server-every 30 --json
  pollbench audit --strategies sse,ws --orders 50 --messages 1000 --duration 20s
"""

MAX_ORDERS = 5_000
"""Orders the audit accepts: with 5 per customer and 8 strategies that is 8 000 clients in one process."""
MAX_MESSAGES = 1_000_000
"""Messages the audit accepts (the acknowledgement log is kept in memory)."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--strategies",
        default="all",
        metavar="LIST",
        help="comma-separated strategy specs, or 'all' (default all: poll:3, poll:5, poll:10, "
        "seed-dashboard:3, adaptive, longpoll, sse, ws)",
    )
    parser.add_argument(
        "--orders", type=int, default=500, metavar="N", help="orders to post to (default 500)"
    )
    parser.add_argument(
        "--messages", type=int, default=10_000, metavar="M", help="messages to post (default 10000)"
    )
    parser.add_argument(
        "--duration",
        default="60s",
        metavar="S",
        help="length of the sending phase, seconds or like 90s, 5m (default 60s)",
    )
    parser.add_argument(
        "--kill-server-every",
        default=None,
        metavar="S",
        help="SIGKILL and restart the server this often while sending, seconds or like 30s (default: never)",
    )
    parser.add_argument(
        "--drain",
        default="60s",
        metavar="S",
        help="after sending, longest wait for receivers to catch up (default 60s; ends early when all have)",
    )
    parser.add_argument(
        "--orders-per-customer",
        type=int,
        default=None,
        metavar="K",
        help="orders each demo customer owns, so each receiver watches K orders (default 5, or --orders "
        "if fewer)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the post plan and the jitter (default 0)"
    )
    add_target_arguments(
        parser,
        host_help="audit this running server instead of starting one (loopback unless --allow-remote; "
        "needs --fixtures; cannot be combined with --kill-server-every)",
    )
    parser.add_argument("--fixtures", default=None, metavar="FILE", help="fixtures file of the --host server")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the verdict as one JSON object on stdout instead of a table",
    )


def build_config(args: argparse.Namespace) -> AuditConfig:
    """The audit's configuration from the command line; CommandError on bad input."""
    from loadtests.audit.config import AuditConfig
    from pollbench.strategies import parse_strategies

    strategies = parse_strategies(args.strategies)
    for flag, value, most in (
        ("--orders", args.orders, MAX_ORDERS),
        ("--messages", args.messages, MAX_MESSAGES),
    ):
        if value < 1:
            raise CommandError(f"{flag} must be at least 1, got {value}")
        if value > most:
            raise CommandError(
                f"{flag} must be at most {most}, got {value}: every client runs in this one process"
            )
    per_customer = min(5, args.orders) if args.orders_per_customer is None else args.orders_per_customer
    if not 1 <= per_customer <= args.orders:
        raise CommandError(f"--orders-per-customer must be 1..--orders ({args.orders}), got {per_customer}")
    every = args.kill_server_every
    kill = None if every is None else duration_flag("--kill-server-every", every)
    host = check_target(args.host, allow_remote=args.allow_remote) if args.host else None
    fixtures = Path(args.fixtures).resolve() if args.fixtures else None
    if host is not None:
        if fixtures is None:
            raise CommandError("--host needs --fixtures (the file 'pollbench serve --fixtures' wrote)")
        if not fixtures.is_file():
            raise CommandError(f"--fixtures {fixtures}: no such file")
        if kill is not None:
            raise CommandError("--kill-server-every needs a server the audit starts itself; drop --host")
    return AuditConfig(
        strategies=strategies,
        orders=args.orders,
        messages=args.messages,
        duration_s=duration_flag("--duration", args.duration),
        kill_every_s=kill,
        drain_s=duration_flag("--drain", args.drain),
        orders_per_customer=per_customer,
        seed=args.seed,
        host=host,
        fixtures=fixtures,
    )


def run(args: argparse.Namespace) -> int:
    from loadtests.audit.progress import AuditProgress
    from loadtests.audit.run import run_audit_blocking
    from loadtests.audit.server import AuditServer, AuditServerError
    from loadtests.server_process import sigterm_as_interrupt

    config = build_config(args)
    servers: list[AuditServer] = []
    try:
        with sigterm_as_interrupt(), AuditProgress(config) as progress:
            result = run_audit_blocking(config, on_progress=progress.update, on_server=servers.append)
    except AuditServerError as exc:
        raise CommandError(f"the reference server did not start: {exc}") from None
    finally:
        for server in servers:
            server.kill_now()  # normally already stopped; after an interrupt, make sure
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        from loadtests.audit.progress import print_table

        print_table(result)
    return 0 if result.passed else 1
