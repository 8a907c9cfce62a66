"""Benchmark of the Locust harness itself (not a test): how much load one Locust process generates.

    python -m loadtests.bench --out /tmp/bench-loadtest

1. **Overhead**: the same conditional ``GET /api/orders`` (a 304) as fast as possible, first from stock
   ``FastHttpUser``s, then through pollbench's byte-counting connection and request accounting; the ratio of
   the request rates is the harness's overhead (target >= 0.8).
2. **poll:3 at scale**: ``--poll-users`` concurrent ``poll:3`` clients with delivery tracking in one Locust
   process (10 000 users poll ~3 300 times per second).
3. **Push at scale**: ``--push-users`` concurrent SSE clients, then as many WebSocket clients.

Everything runs against one seeded ``pollbench serve`` on loopback; figures are printed as Markdown for
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from loadtests.runner import LoadTestConfig, run_strategy
from loadtests.server_process import ServerOptions, ServerProcess
from pollbench.strategies import parse_strategy

__all__ = ["main"]

BENCH_LOCUSTFILE = Path(__file__).with_name("bench_locustfile.py")


def _aggregated_rate(stats_csv: Path) -> tuple[float, int, int]:
    """(requests/s, requests, failures) of the Aggregated row of a Locust stats CSV."""
    with stats_csv.open() as f:
        for row in csv.DictReader(f):
            if row["Name"] == "Aggregated":
                return float(row["Requests/s"]), int(row["Request Count"]), int(row["Failure Count"])
    raise RuntimeError(f"{stats_csv}: no Aggregated row")


def overhead(base_url: str, fixtures: Path, users: int, seconds: int, out: Path) -> dict[str, Any]:
    """Request rates of BareGetUser and HarnessGetUser, one after the other, same server."""
    rates: dict[str, Any] = {}
    for cls in ("BareGetUser", "HarnessGetUser"):
        prefix = out / f"overhead_{cls}"
        cmd = [
            sys.executable, "-m", "locust", "-f", str(BENCH_LOCUSTFILE), cls, "--headless",
            "--host", base_url, "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
            "--csv", str(prefix), "--only-summary", "--fixtures", str(fixtures), "--exit-code-on-error", "0",
        ]  # fmt: skip
        with (out / f"overhead_{cls}.log").open("wb") as log:
            subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=seconds + 60, check=False)
        rate, n, failed = _aggregated_rate(prefix.with_name(prefix.name + "_stats.csv"))
        rates[cls] = {"requests_per_s": rate, "requests": n, "failures": failed}
    rates["ratio"] = rates["HarnessGetUser"]["requests_per_s"] / rates["BareGetUser"]["requests_per_s"]
    return rates


def scale(spec: str, users: int, seconds: float, interval: float, server: ServerProcess, out: Path) -> Any:
    """One strategy with `users` receivers in one Locust process; returns its StrategyRun."""
    config = LoadTestConfig(
        users=users,
        spawn_rate=max(100.0, users / 10),
        duration_s=seconds,
        message_interval_s=interval,
        orders_per_customer=3,
        admins=1,
        out=out / spec.replace(":", "_"),
        host=server.base_url,
        fixtures=server.fixtures,
    )
    started = time.monotonic()

    def progress(_spec: str, elapsed: float, sample: dict[str, Any]) -> None:
        if int(elapsed) % 10 == 0 and sample:
            print(f"  {spec}: {elapsed:.0f} s, server CPU {sample['cpu']:.1f} s, {sample['conns']:.0f} conns")

    run = run_strategy(config, parse_strategy(spec), server.base_url, server.fixtures, server.pid, progress)
    print(f"  {spec}: done in {time.monotonic() - started:.0f} s")
    return run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtests.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="bench-loadtest", help="working directory")
    p.add_argument("--overhead-users", type=int, default=50)
    p.add_argument("--overhead-seconds", type=int, default=20)
    p.add_argument("--poll-users", type=int, default=10_000)
    p.add_argument("--push-users", type=int, default=5_000)
    p.add_argument("--seconds", type=float, default=40.0, help="sending phase of each scale run")
    p.add_argument("--message-interval", type=float, default=120.0, help="mean s between messages per order")
    p.add_argument("--skip", default="", help="comma list of parts to skip: overhead,poll,sse,ws")
    args = p.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, args.skip.split(",")))
    customers = max(args.poll_users, args.push_users, args.overhead_users)
    options = ServerOptions(
        customers=customers, orders_per_customer=3, admins=1, workdir=out / "server", start_timeout_s=300
    )
    with ServerProcess(options) as server:
        print(f"server {server.base_url} (pid {server.pid}), {customers} customers")
        if "overhead" not in skip:
            o = overhead(server.base_url, server.fixtures, args.overhead_users, args.overhead_seconds, out)
            bare, harness = o["BareGetUser"]["requests_per_s"], o["HarnessGetUser"]["requests_per_s"]
            print(
                f"| overhead | FastHttpUser {bare:.0f} req/s | harness {harness:.0f} req/s "
                f"| {o['ratio']:.2f} |"
            )
        for spec, users in (("poll:3", args.poll_users), ("sse", args.push_users), ("ws", args.push_users)):
            if spec.split(":")[0] in skip:
                continue
            run = scale(spec, users, args.seconds, args.message_interval, server, out)
            r = run.result
            e = r.extra
            lat = f"p50 {r.latency_s.p50:.3f} s, p99 {r.latency_s.p99:.3f} s"
            got = f"{r.messages.delivered}/{r.messages.sent} delivered, gaps {e['gaps']}"
            conns = e["server"].get("open_connections_max")
            print(
                f"| {spec} | {users} users | {r.requests_per_s:.0f} req/s | {got} | {lat} "
                f"| failures {r.failures} |"
            )
            gen = e.get("load_generator", {}).get("utilization", float("nan"))
            print(f"|   | server CPU {r.server_utilization:.0%} | Locust CPU {gen:.0%} | max conns {conns} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
