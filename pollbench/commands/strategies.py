"""``pollbench strategies``: list the delivery strategies and what each spec means."""

from __future__ import annotations

import argparse
import json
from typing import Any

HELP = "list delivery strategies and their spec strings"
DESCRIPTION = """\
List the delivery strategies pollbench knows, with their canonical spec strings and parameters.
Pass a list to see how it parses, e.g. 'pollbench strategies adaptive:min=2,max=20 longpoll:25'.

Spec grammar:
  poll:T                 differential polling every T s (ETag + since cursor)
  seed-dashboard:T       the seed's naive dashboard: order list + full GET per order every T s
  adaptive[:k=v,...]     polling that backs off on empty polls (min=3,max=30,factor=2)
  longpoll[:TIMEOUT]     long-poll per order, held up to TIMEOUT s (30)
  sse[:HEARTBEAT]        Server-Sent Events stream, heartbeat every HEARTBEAT s (15)
  ws[:PING]              WebSocket push, ping every PING s (30)
  all                    poll:3,poll:5,poll:10,seed-dashboard:3,adaptive,longpoll,sse,ws
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("specs", nargs="*", default=["all"], help="strategy specs to parse (default: all)")
    parser.add_argument("--json", action="store_true", help="print the parsed strategies as JSON")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from pollbench.strategies import parse_strategies

    strategies = parse_strategies(args.specs)
    rows: list[dict[str, Any]] = []
    for s in strategies:
        params = {f.name: getattr(s, f.name) for f in dataclasses.fields(s) if f.init}
        rows.append({"spec": s.spec, "transport": s.transport, "push": s.is_push, "params": params})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Delivery strategies")
    for col in ("spec", "transport", "push", "parameters"):
        table.add_column(col)
    for r in rows:
        text = ", ".join(f"{k}={v:g}" for k, v in r["params"].items())
        table.add_row(r["spec"], r["transport"], "yes" if r["push"] else "no", text)
    Console().print(table)
    return 0
