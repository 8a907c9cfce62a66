"""``pollbench serve``: run the reference messaging server, optionally with demo users and a fixtures file."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from pollbench.commands import CommandError

if TYPE_CHECKING:
    from reference_server import ServerConfig

HELP = "run the reference messaging server (poll, long-poll, SSE, WebSocket)"
DESCRIPTION = """\
Run the reference order-chat server: the seed's /api/messages API over a durable SQLite store, with
differential polling (ETag + since), long-poll, Server-Sent Events and WebSocket delivery.

When it is listening it prints exactly one line to stdout:
  pollbench serve: listening on http://HOST:PORT
(with the real port when --port 0). With --fixtures it then writes a JSON file with the base URL and,
for every demo user, a token load tests can use. SIGINT or SIGTERM stop it cleanly.

Environment fallbacks: POLLBENCH_HOST, POLLBENCH_PORT, POLLBENCH_DB, POLLBENCH_SECRET,
POLLBENCH_MAX_CONNECTIONS.

Example:
  pollbench serve --port 0 --seed-customers 100 --admins 2 --fixtures fixtures.json
"""

LISTENING = "pollbench serve: listening on {url}"


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise CommandError(f"{name} must be an integer, got {raw!r}") from None


def configure(parser: argparse.ArgumentParser) -> None:
    env = os.environ
    parser.add_argument(
        "--host",
        default=env.get("POLLBENCH_HOST", "127.0.0.1"),
        help="interface to listen on (default 127.0.0.1; env POLLBENCH_HOST)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="TCP port; 0 picks a free one and prints it (default 8080; env POLLBENCH_PORT)",
    )
    parser.add_argument(
        "--db",
        default=env.get("POLLBENCH_DB", ":memory:"),
        metavar="PATH",
        help="SQLite database file, created if missing; ':memory:' keeps data in RAM only "
        "(default :memory:; env POLLBENCH_DB)",
    )
    parser.add_argument(
        "--secret",
        default=env.get("POLLBENCH_SECRET", ""),
        help="token signing key; random if absent, so tokens die with the process (env POLLBENCH_SECRET)",
    )
    seed = parser.add_argument_group("demo data")
    seed.add_argument(
        "--seed-customers",
        type=int,
        default=0,
        metavar="N",
        help="create customers c1..cN (names 'Customer i') (default 0)",
    )
    seed.add_argument(
        "--orders-per-customer",
        type=int,
        default=3,
        metavar="K",
        help="orders per demo customer, numbered o1, o2, ... in customer order (default 3)",
    )
    seed.add_argument("--admins", type=int, default=0, metavar="A", help="create admins a1..aA (default 0)")
    seed.add_argument(
        "--messages-per-order",
        type=int,
        default=8,
        metavar="M",
        help="messages seeded into each new order; 8 makes a full poll about 2 KB (default 8)",
    )
    seed.add_argument(
        "--fixtures",
        metavar="PATH",
        help="once listening, write base_url and every demo user's id, name, token and orders "
        "to this JSON file (atomically)",
    )
    seed.add_argument(
        "--token-ttl",
        type=float,
        default=7 * 24 * 3600.0,
        metavar="SECONDS",
        help="lifetime of the tokens in the fixtures file (default 604800 = 7 days)",
    )
    tune = parser.add_argument_group("tuning")
    tune.add_argument(
        "--sse-heartbeat",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="seconds between SSE comment heartbeats (default 15)",
    )
    tune.add_argument(
        "--ws-heartbeat",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="seconds between WebSocket pings (default 30)",
    )
    tune.add_argument(
        "--push-queue",
        type=int,
        default=256,
        metavar="N",
        help="messages buffered per SSE/WebSocket connection before a slow reader is "
        "disconnected (default 256)",
    )
    tune.add_argument(
        "--max-connections",
        type=int,
        default=None,
        metavar="N",
        help="cap on long-lived connections (SSE streams + WebSockets + parked long-polls); past it new "
        "ones get 503 'overloaded' with Retry-After while open ones keep working; plain requests are never "
        "counted; 0 = no cap (default 0; env POLLBENCH_MAX_CONNECTIONS)",
    )
    tune.add_argument(
        "--retention-days",
        type=float,
        default=30.0,
        metavar="DAYS",
        help="prune messages older than this (default 30)",
    )


def _config(args: argparse.Namespace) -> ServerConfig:
    from reference_server import ServerConfig

    try:
        return ServerConfig(
            db_path=args.db,
            secret=args.secret,
            token_ttl_s=args.token_ttl,
            sse_heartbeat_s=args.sse_heartbeat,
            ws_heartbeat_s=args.ws_heartbeat,
            push_queue_max=args.push_queue,
            max_connections=_max_connections(args),
            retention_days=args.retention_days,
            seed_customers=args.seed_customers,
            orders_per_customer=args.orders_per_customer,
            seed_admins=args.admins,
            messages_per_order=args.messages_per_order,
        )
    except ValueError as exc:
        raise CommandError(_flag_names(str(exc))) from None


def _max_connections(args: argparse.Namespace) -> int:
    if args.max_connections is not None:
        return int(args.max_connections)
    return _int_env("POLLBENCH_MAX_CONNECTIONS", 0)


# ServerConfig speaks in field names; the person at the terminal typed flags.
_FLAGS = {
    "token_ttl_s": "--token-ttl",
    "sse_heartbeat_s": "--sse-heartbeat",
    "ws_heartbeat_s": "--ws-heartbeat",
    "push_queue_max": "--push-queue",
    "max_connections": "--max-connections",
    "retention_days": "--retention-days",
    "seed_customers": "--seed-customers",
    "orders_per_customer": "--orders-per-customer",
    "seed_admins": "--admins",
    "messages_per_order": "--messages-per-order",
}


def _flag_names(message: str) -> str:
    for field, flag in _FLAGS.items():
        if message.startswith(field + " "):
            return flag + message[len(field) :]
    return message


def run(args: argparse.Namespace) -> int:
    from reference_server import raise_open_file_limit, serve
    from reference_server.runner import run as run_loop
    from reference_server.store import StoreError

    port = args.port if args.port is not None else _int_env("POLLBENCH_PORT", 8080)
    if not 0 <= port <= 65535:
        raise CommandError(f"--port must be 0..65535, got {port}")
    config = _config(args)
    raise_open_file_limit()

    def announce(url: str) -> None:
        print(LISTENING.format(url=url), flush=True)

    try:
        run_loop(serve(config, host=args.host, port=port, fixtures=args.fixtures, announce=announce))
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.host}:{port} or write files: {exc}") from None
    return 0
