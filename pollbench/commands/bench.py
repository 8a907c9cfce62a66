"""``pollbench bench server``: throughput of the poll paths against a do-nothing ceiling, and the server
memory an idle SSE or WebSocket subscriber costs."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from pollbench.commands import CommandError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from reference_server.bench import BenchConfig, BenchReport

HELP = "benchmark a server: poll throughput vs a no-op ceiling, memory per idle push connection"
DESCRIPTION = """\
Benchmark the reference server on this machine, loopback only. Needs wrk (sudo apt-get install wrk).

Starts one 'pollbench serve' on a free loopback port with a temporary SQLite database and demo data,
then measures with wrk, round-robin over --repeat rounds (medians reported):
  (a) GET /bench/noop                 the ceiling: same server, no auth, no database
  (b) poll answered 304               GET /api/messages?orderId=X + If-None-Match   target >= 0.85 x (a)
  (c) since-poll, nothing new         GET /api/messages?orderId=X&since=CURSOR      target >= 0.85 x (a)
  (d) full poll, about 2 KB           GET /api/messages?orderId=X                   target >= 0.5 x (a)
  (e) GET /api/orders, 3 orders                                                     (no target)
Then it holds --sse idle Server-Sent Events streams and --ws idle WebSockets (subscribed to an order)
from a separate client process and reports the server's RSS growth per connection (target <= 16 KiB),
and the same against a bare aiohttp server as the floor (skip with --no-bare).

Example (a quick look):  pollbench bench server --duration 2 --repeat 1 --sse 1000 --ws 1000
Exit status: 0 every target met, 1 a target missed, 2 bad input or the benchmark could not run.
"""

TARGETS = ("server",)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", choices=TARGETS, help="what to benchmark (only 'server' for now)")
    parser.add_argument("--duration", type=float, default=5.0, metavar="S", help="seconds per wrk run (5)")
    parser.add_argument(
        "--warmup", type=float, default=2.0, metavar="S", help="seconds of warm-up per shape (2)"
    )
    parser.add_argument("--connections", type=int, default=64, metavar="N", help="wrk connections (64)")
    parser.add_argument("--threads", type=int, default=2, metavar="N", help="wrk threads (2)")
    parser.add_argument("--repeat", type=int, default=3, metavar="N", help="rounds of (a)..(e); medians (3)")
    parser.add_argument(
        "--sse", type=int, default=10_000, metavar="N", help="idle SSE streams (10000; 0 skips)"
    )
    parser.add_argument(
        "--ws", type=int, default=10_000, metavar="N", help="idle WebSockets (10000; 0 skips)"
    )
    parser.add_argument("--no-bare", action="store_true", help="skip the bare-aiohttp memory floor")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON on stdout")


def _config(args: argparse.Namespace) -> BenchConfig:
    from reference_server.bench import BenchConfig

    try:
        return BenchConfig(
            duration_s=args.duration, warmup_s=args.warmup, connections=args.connections,
            threads=args.threads, repeat=args.repeat, sse_connections=args.sse, ws_connections=args.ws,
            bare=not args.no_bare,
        )  # fmt: skip
    except ValueError as exc:
        raise CommandError(_flag_names(str(exc))) from exc


# BenchConfig speaks in field names; the person at the terminal typed flags.
_FLAGS = {
    "duration": "--duration",
    "warmup_s": "--warmup",
    "connections": "--connections",
    "threads": "--threads",
    "repeat": "--repeat",
    "sse_connections": "--sse",
    "ws_connections": "--ws",
}


def _flag_names(message: str) -> str:
    field, sep, rest = message.partition(" ")
    return _FLAGS[field] + sep + rest if field in _FLAGS else message


def _verdict(passed: bool | None) -> str:
    return {True: "[green]PASS[/]", False: "[bold red]FAIL[/]", None: "—"}[passed]


def _http_table(report: BenchReport) -> Any:
    from rich.table import Table

    table = Table(title="Throughput (wrk, medians over rounds)")
    cols = ("", "request", "req/s", "ratio to (a)", "target", "result", "CPU µs/req", "CPU ratio",
            "bytes/resp", "p50 ms", "p99 ms", "errors")  # fmt: skip
    for col in cols:
        table.add_column(col, justify="left" if col in ("", "request") else "right")
    for f in report.http:
        d = f.to_dict()
        target = f"≥ {f.shape.min_ratio:.2f}" if f.shape.min_ratio is not None else "—"
        table.add_row(
            f"({f.shape.key})", f.shape.label, f"{f.requests_per_s:,.0f}", f"{f.ratio:.2f}", target,
            _verdict(f.passed), f"{f.cpu_us_per_request:.1f}", f"{f.cpu_ratio:.2f}",
            f"{d['bytes_per_request']:,.0f}", f"{d['latency_p50_us'] / 1000:.2f}",
            f"{d['latency_p99_us'] / 1000:.2f}", str(f.errors),
        )  # fmt: skip
    return table


def _push_table(report: BenchReport) -> Any:
    from rich.table import Table

    table = Table(title="Server memory per idle push connection (RSS growth)")
    for col in ("server", "transport", "opened", "failed", "open s", "RSS before", "RSS held", "KiB/conn",
                "vs bare", "retained", "target", "result"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("server", "transport") else "right")
    bare = {p.kind: p.per_connection for p in report.push if p.server == "bare"}
    for p in report.push:
        vs_bare = (
            f"{p.per_connection / bare[p.kind]:.2f}x" if p.server != "bare" and bare.get(p.kind) else "—"
        )
        table.add_row(
            p.server, p.kind.upper(), f"{p.opened:,}/{p.requested:,}", str(p.failed), f"{p.open_s:.1f}",
            f"{p.rss_before / 2**20:.1f} MiB", f"{p.rss_held / 2**20:.1f} MiB",
            f"{p.per_connection / 1024:.1f}", vs_bare, f"{p.retained / 2**20:.1f} MiB",
            "≤ 16.0" if p.server == "reference" else "—", _verdict(p.passed),
        )  # fmt: skip
    return table


def _print(report: BenchReport, console: Console) -> None:
    console.print(_http_table(report))
    if report.push:
        console.print(_push_table(report))
    word = "[green]all targets met[/]" if report.passed else "[bold red]a target was missed[/]"
    console.print(
        f"Result: {word}  (machine: {report.machine.get('cpus')} CPUs, {report.machine.get('platform')})"
    )


def _observer(progress: Progress) -> Any:
    from reference_server.bench import Observer

    class RichObserver(Observer):
        def __init__(self) -> None:
            self.task: TaskID | None = None
            self.started = False

        def start(self, total_steps: int) -> None:
            self.task = progress.add_task("benchmark", total=total_steps)

        def step(self, description: str) -> None:
            assert self.task is not None
            if self.started:
                progress.advance(self.task)
            self.started = True
            progress.update(self.task, description=description)

        def detail(self, text: str) -> None:
            assert self.task is not None
            desc = progress.tasks[self.task].description.split(" · ")[0]
            progress.update(self.task, description=f"{desc} · {text}")

    return RichObserver()


def _terminate_as_interrupt() -> None:
    import signal

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwinds through every context manager, which stops the child processes

    signal.signal(signal.SIGTERM, handler)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from reference_server.bench import BenchError, run_bench
    from reference_server.bench_http import ShapeError
    from reference_server.bench_wrk import WrkError, find_wrk

    cfg = _config(args)
    try:
        find_wrk()
    except WrkError as exc:
        raise CommandError(str(exc)) from exc
    _terminate_as_interrupt()
    err = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn())  # fmt: skip
    try:
        with Progress(*columns, console=err, transient=True) as progress:
            report = run_bench(cfg, _observer(progress))
    except (BenchError, ShapeError, WrkError) as exc:
        raise CommandError(str(exc)) from exc
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        console = Console()
        # Off a terminal rich assumes 80 columns, which folds the tables into unreadable slivers.
        _print(report, console if console.is_terminal else Console(width=150))
    return 0 if report.passed else 1
