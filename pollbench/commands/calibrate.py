"""``pollbench calibrate``: measure the reference server and write the calibration the simulator reads."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pollbench.commands import CommandError, add_cpu_quota_argument, cpu_quota_flag

if TYPE_CHECKING:
    from rich.table import Table

    from loadtests.calibrate import CalibrationResult

HELP = "measure the reference server's service times, wire bytes and memory for the simulator"
DESCRIPTION = """\
Measure what the simulator needs to know about the server and write it as a calibration file for
'pollbench simulate --calibration FILE':

  service_ms  server CPU per request kind (304 poll, since-poll, full ~2 KB poll, order list, POST,
              long-poll park/wake/timeout, SSE/WebSocket push per delivery, ping, SSE heartbeat):
              the server process's user+system CPU over a batch of identical requests / requests
  bytes       wire bytes of each exchange (status line, headers, body, chunk framing), measured with
              the same client and headers as the Locust load tests
  memory_per_connection_bytes
              server RSS growth per idle SSE stream / subscribed WebSocket (the larger of the two)
  connection_scaling
              CPU per 304 poll at saturation with N keep-alive connections used in rotation, over
              the 2-in-flight orders_304 figure measured alongside (N = 100, 5000; --quick 100, 1000)
  cold_start  extra CPU of a request that finds the loop idle after a gap g: max*(1-exp(-g/tau)),
              fitted over gaps of 0.3-30 ms
  commit_ms   median (SSE receive - createdAt) of messages posted one at a time, less push
  memory_per_keepalive_bytes, baseline_rss_bytes, fd_limit, fd_reserve
              RSS per idle keep-alive connection; the idle server's RSS, descriptor limit and
              descriptors held
  meta        date, host, every sample (size, CPU clock resolution share), the no-op reference

Without --host it starts its own seeded 'pollbench serve' on a free loopback port (and a second one
with a 50 ms SSE heartbeat to measure heartbeats). With --host it measures a running server on this
machine, found by its listening port; it needs that server's --fixtures file, posts a few thousand
messages into the fixtures' orders, and keeps the heartbeat default (see meta.notes).

--server-cpu-quota Q runs both servers it starts at Q of one core once seeded (meta.server_cpu_quota).
Service times stay CPU seconds per request; each kind needs about 1/Q as long to gather its CPU sample
and may stop at its share of the time limit with a smaller one (meta.samples shows each tick share).

Examples:
  pollbench calibrate --out calibration.json
  pollbench calibrate --quick --json > calibration.json
  pollbench calibrate --server-cpu-quota 0.2 --out calibration-q02.json
  pollbench serve --port 8080 --seed-customers 20 --admins 1 --fixtures fx.json &
  pollbench calibrate --host http://127.0.0.1:8080 --fixtures fx.json --out calibration.json
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        metavar="URL",
        help="calibrate this running server (loopback only, e.g. http://127.0.0.1:8080); "
        "default: start a seeded reference server",
    )
    parser.add_argument(
        "--fixtures", type=Path, metavar="PATH", help="the fixtures file of the --host server (required)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller samples, about 20 s instead of about 60 s"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("calibration.json"),
        metavar="FILE",
        help="calibration JSON to write (default calibration.json)",
    )
    parser.add_argument("--json", action="store_true", help="print the calibration JSON instead of the table")
    add_cpu_quota_argument(
        parser,
        help="run the servers calibration starts at Q of one core (0 < Q <= 1, e.g. 0.2) in a CPU-quota "
        "cgroup (needs root or a delegated cgroup), after they have seeded their data at full speed; "
        "recorded as meta.server_cpu_quota. Not with --host",
    )


def _check_out(path: Path) -> None:
    """Refuse an --out that cannot be written before spending a minute measuring (by opening it: a
    permission check alone says yes to root on a read-only file system)."""
    if path.is_dir():
        raise CommandError(f"--out {path}: is a directory; give a file name")
    existed = path.exists()
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise CommandError(f"--out {path}: cannot write ({exc.strerror})") from None
    if not existed:
        path.unlink()


def _check_target(args: argparse.Namespace) -> None:
    from loadtests.calibrate_server import CalibrateError, attach
    from pollbench.targets import check_target, is_loopback_host

    if args.host is None:
        if args.fixtures is not None:
            raise CommandError("--fixtures is only used with --host")
        return
    # No --allow-remote here: calibration reads the server process's CPU and memory, so it must run on
    # the same machine as the server.
    host = urlsplit(args.host).hostname
    if host and not is_loopback_host(host):
        raise CommandError(
            f"refusing to calibrate {host}: calibration reads the server process's CPU time and memory, "
            "so the server must run on this machine (127.0.0.0/8, ::1, localhost)"
        )
    args.host = check_target(args.host)
    if args.fixtures is None:
        raise CommandError("--host needs --fixtures PATH (the file 'pollbench serve --fixtures' wrote)")
    if not args.fixtures.is_file():
        raise CommandError(f"--fixtures {args.fixtures}: file not found")
    try:
        attach(args.host, args.fixtures)  # the fixtures parse and a process of ours listens there
    except CalibrateError as exc:
        raise CommandError(str(exc)) from None


def _bytes_of(kind: str, result: CalibrationResult) -> str:
    b = result.calibration.bytes
    get = b.request + b.response_headers
    shown = {
        "orders_304": f"{get}",
        "orders_200": f"{get} + {b.orders_list_body_per_order}/order",
        "full_messages": f"{get + b.full_messages_body}",
        "since_empty": f"{get + b.since_envelope}",
        "since": f"{get + b.since_envelope} + {b.message_overhead}/msg + text",
        "longpoll_timeout": f"{b.request + b.longpoll_204}",
        "push_sse": f"{b.sse_event_overhead + b.message_overhead} + text",
        "push_ws": f"{b.ws_frame_overhead + b.message_overhead} + text",
        "ping": f"{b.ws_ping}",
        "heartbeat": f"{b.sse_heartbeat}",
    }
    return shown.get(kind, "")


def results_table(result: CalibrationResult) -> Table:
    """One row per measured kind: how many, server CPU per unit, the CPU clock's step as a share of it,
    wire bytes."""
    from rich.table import Table

    table = Table(title="pollbench calibrate: server CPU per request (this machine)")
    from loadtests.calibrate_server import TICK_S

    resolution = float(result.meta.get("clock_resolution_s", TICK_S))
    for col in ("kind", "requests", "CPU µs/request", "resolution", "wire bytes"):
        table.add_column(col, justify="left" if col in ("kind", "wire bytes") else "right")
    for kind, s in result.samples.items():
        us = s.per_unit_s * 1e6
        table.add_row(
            kind,
            f"{s.count:,}",
            "-" if math.isnan(us) else f"{us:.1f}",
            f"{s.resolution_share(resolution):.1%}",
            _bytes_of(kind, result),
        )
    return table


def capacity_lines(result: CalibrationResult) -> list[str]:
    """What bounds the clients of one process: connection scaling, cold start, commit, memory, descriptors."""
    c = result.calibration
    factors = ", ".join(f"{n} connections x{f:.2f}" for n, f in c.connection_scaling.points)
    commit = result.meta.get("commit", {}).get("latency_ms", {})
    spread = (
        f" (push latency p10/p50/p90 {commit['p10']}/{commit['p50']}/{commit['p90']} ms)" if commit else ""
    )
    return [
        f"connection scaling (CPU per request at saturation): {factors or 'not measured'}",
        f"cold start: up to {c.cold_start.max_ms:.2f} ms extra CPU after an idle gap, "
        f"tau {c.cold_start.tau_ms:.1f} ms",
        f"commit on the push path: {c.commit_ms:.2f} ms{spread}",
        f"memory per idle keep-alive connection: {c.memory_per_keepalive_bytes / 1024:.1f} KiB; idle "
        f"server {c.baseline_rss_bytes / 2**20:.0f} MiB, {c.fd_reserve} descriptors held of "
        f"{c.fd_limit or 'this machine'}",
    ]


def _measure(args: argparse.Namespace) -> CalibrationResult:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from loadtests.calibrate import CalibrateError, calibrate
    from loadtests.server_process import sigterm_as_interrupt

    columns = (TextColumn("calibrate"), BarColumn(), TimeElapsedColumn(), TextColumn("{task.description}"))
    console = Console(stderr=True)
    # Off a terminal (CI logs, captured output) a live bar only leaves blank lines behind.
    progress_bar = Progress(*columns, console=console, transient=True, disable=not console.is_terminal)
    with sigterm_as_interrupt(), progress_bar as bar:
        task = bar.add_task("starting", total=1.0)

        def progress(what: str, done: float) -> None:
            bar.update(task, description=what, completed=done)

        try:
            return calibrate(
                args.host,
                fixtures=args.fixtures,
                quick=args.quick,
                progress=progress,
                cpu_quota=args.server_cpu_quota,
            )
        except CalibrateError as exc:
            raise CommandError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    args.server_cpu_quota = cpu_quota_flag(args.server_cpu_quota, host=args.host)
    _check_target(args)
    _check_out(args.out)
    result = _measure(args)
    text = result.to_json()
    try:
        args.out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"--out {args.out}: cannot write ({exc.strerror})") from None
    if args.json:
        print(text, end="")
        return 0
    out = Console(width=None if os.isatty(1) else 110)
    out.print(results_table(result))
    c = result.calibration
    out.print(
        f"memory per push connection: {c.memory_per_connection_bytes / 1024:.1f} KiB; "
        f"no-op reference: {result.noop_s * 1e6:.1f} µs/request"
    )
    for line in capacity_lines(result):
        out.print(line, highlight=False)
    for note in result.meta["notes"]:
        out.print(f"note: {note}", highlight=False)
    out.print(f"wrote {args.out} (use: pollbench simulate --calibration {args.out})")
    return 0
