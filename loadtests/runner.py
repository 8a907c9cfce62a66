"""Running a load test: one headless Locust subprocess per strategy, then one measured summary.

This side never imports Locust (Locust monkey-patches the interpreter with gevent). For each strategy
it starts ``python -m locust -f loadtests/locustfile.py --headless ...`` with the strategy and settings
as the locustfile's custom arguments, against a fresh seeded ``pollbench serve`` (under a CPU quota when
one is set) or the ``--host`` given, samples the server's ``/metrics`` while the test runs, then merges
the per-process raw records into the strategy's :class:`~pollbench.results.StrategyResult`.

A run has two phases: for ``duration`` seconds senders post and receivers receive; then, for a
strategy-dependent drain, senders are silent and receivers catch up. Every message still missing after
the drain is counted as a gap. Locust's own CSV and HTML reports go to ``OUT/locust/``.
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from loadtests.cpu_quota import CpuQuota
from loadtests.fixtures import load_fixtures
from loadtests.merge import MergedRun, merge_raw
from loadtests.server_metrics import ServerWatch
from loadtests.server_process import ServerOptions, ServerProcess
from loadtests.steps import drain_seconds
from loadtests.summary import strategy_result
from pollbench.results import StrategyResult
from pollbench.strategies import ServerSentEvents, Strategy

__all__ = [
    "LOCUSTFILE",
    "LoadTestConfig",
    "StrategyRun",
    "drain_seconds",
    "locust_command",
    "run_strategy",
    "slug",
]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")

Progress = Callable[[str, float, dict[str, Any]], None]
"""Called with (strategy spec, elapsed seconds, latest server sample figures) while a run is going."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadTestConfig:
    """Every input of ``pollbench loadtest``."""

    users: int
    """Receiving clients per strategy (each a customer with its orders)."""
    spawn_rate: float
    """Users started per second."""
    duration_s: float
    """Seconds during which senders post (the measured window)."""
    message_interval_s: float
    """Mean seconds between messages in one order."""
    orders_per_customer: int
    """Orders per customer of a server this run starts."""
    admins: int
    """Admins of a server this run starts (senders post half of the messages as an admin)."""
    out: Path
    """Results directory."""
    host: str | None = None
    """Base URL of an already running server (loopback only); None starts one per strategy."""
    fixtures: Path | None = None
    """Fixtures file of the server at `host`."""
    processes: int = 1
    """Locust worker processes (1: a single local process)."""
    master: bool = False
    """Run a Locust master only and wait for `expect_workers` external workers."""
    expect_workers: int = 1
    """Workers the master waits for."""
    master_port: int = 5557
    """Port the master listens on for its workers (Locust's default; workers pass --master-port)."""
    drain_s: float | None = None
    """Seconds receivers keep listening after senders stop; None picks it per strategy."""
    customers_per_sender: int = 25
    """Receiving customers one sender user serves."""
    admin_panels: int = 0
    """AdminPanelUser instances running alongside (background load)."""
    hidden_fraction: float = 0.0
    """Share of adaptive clients with a hidden tab."""
    message_bytes: int = 200
    """Approximate JSON size of one message."""
    seed: int = 1
    """Seed of every random stream."""
    parallel: int = 1
    """Strategies measured at the same time, each against its own server (only without ``host``)."""
    server_cpu_quota: float | None = None
    """Share of one core each started server may use (a CPU-quota cgroup); None: no limit. Not with
    ``host``: only a server this run starts can be put under a quota."""

    def __post_init__(self) -> None:
        if self.server_cpu_quota is not None and self.host is not None:
            raise ValueError("server_cpu_quota applies only to servers the run starts, not to host")

    @property
    def senders(self) -> int:
        """Sender users (the locustfile computes the same: a block of customers each, one per worker)."""
        workers = self.expect_workers if self.master else self.processes
        return max(1, workers, math.ceil(self.users / self.customers_per_sender))


def slug(spec: str) -> str:
    """A file-name-safe form of a strategy spec (``poll:3`` -> ``poll_3``)."""
    return "".join(c if c.isalnum() or c in "-." else "_" for c in spec)


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyRun:
    """The outcome of one strategy's Locust run."""

    strategy: Strategy
    result: StrategyResult
    merged: MergedRun
    locust_exit_code: int


def locust_command(
    config: LoadTestConfig, strategy: Strategy, base_url: str, fixtures: Path, raw: Path
) -> list[str]:
    """The Locust command line for one strategy."""
    drain = config.drain_s if config.drain_s is not None else drain_seconds(strategy, config.hidden_fraction)
    run_time = config.duration_s + drain
    name = slug(strategy.spec)
    locust_dir = config.out / "locust"
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", base_url,
        "-u", str(config.users + config.senders + config.admin_panels), "-r", f"{config.spawn_rate:g}",
        "--stop-after", f"{math.ceil(run_time)}", "--stop-timeout", "0", "--exit-code-on-error", "0",
        "--csv", str(locust_dir / name), "--html", str(locust_dir / f"{name}.html"), "--only-summary",
        "--strategy", strategy.spec, "--fixtures", str(fixtures), "--receivers", str(config.users),
        "--message-interval", f"{config.message_interval_s:g}", "--send-for", f"{config.duration_s:g}",
        "--raw-dir", str(raw), "--seed", str(config.seed),
        "--customers-per-sender", str(config.customers_per_sender),
        "--hidden-fraction", f"{config.hidden_fraction:g}", "--message-bytes", str(config.message_bytes),
        "--admin-panels", str(config.admin_panels),
    ]  # fmt: skip
    if config.master:
        cmd += [
            "--master",
            "--expect-workers",
            str(config.expect_workers),
            "--expect-workers-max-wait",
            "120",
            "--master-bind-port",
            str(config.master_port),
        ]
    elif config.processes > 1:
        # Master and forked workers talk over a private loopback port, not Locust's shared default 5557:
        # two runs on one machine would otherwise swap workers and mix each other's results.
        port = str(free_loopback_port())
        cmd += ["--processes", str(config.processes), "--master-bind-host", "127.0.0.1"]
        cmd += ["--master-bind-port", port, "--master-host", "127.0.0.1", "--master-port", port]
    return cmd


def free_loopback_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class GeneratorWatch:
    """CPU seconds of the Locust process and its workers, sampled while they live."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.cpu: dict[int, float] = {}

    def sample(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
            for p in [root, *root.children(recursive=True)]:
                t = p.cpu_times()
                self.cpu[p.pid] = t.user + t.system
        except psutil.Error:
            pass  # the process just ended: keep the last sample

    def summary(self, wall_s: float) -> dict[str, float]:
        busy = sum(self.cpu.values())
        return {"cpu_seconds": busy, "utilization": busy / wall_s if wall_s > 0 else math.nan}


def _wait(
    proc: subprocess.Popen[bytes], watch: ServerWatch, spec: str, limit_s: float, progress: Progress
) -> int:
    """Wait for Locust, sampling the server every second; kill it if it overruns its time limit."""
    started = time.monotonic()
    generator = GeneratorWatch(proc.pid)
    while True:
        try:
            code = proc.wait(timeout=1.0)
            watch.generator = generator.summary(time.monotonic() - started)
            return code
        except subprocess.TimeoutExpired:
            pass
        generator.sample()
        elapsed = time.monotonic() - started
        s = watch.sample()
        progress(spec, elapsed, {} if s is None else {"cpu": s.cpu_seconds, "conns": s.open_connections})
        if elapsed > limit_s:
            proc.kill()
            proc.wait(timeout=10)
            raise TimeoutError(f"{spec}: Locust did not finish within {limit_s:.0f} s and was stopped")


def run_strategy(
    config: LoadTestConfig,
    strategy: Strategy,
    base_url: str,
    fixtures: Path,
    server_pid: int | None,
    progress: Progress,
    *,
    quota: CpuQuota | None = None,
) -> StrategyRun:
    """One strategy: Locust subprocess, server sampling, merged raw records, measured result.

    ``quota`` is the server's CPU-quota group: utilization is then of its share, and its throttling
    during the run is recorded in ``extra["cpu_quota"]``."""
    raw = config.out / "raw" / slug(strategy.spec)
    if raw.exists():
        shutil.rmtree(raw)
    raw.mkdir(parents=True)
    (config.out / "locust").mkdir(parents=True, exist_ok=True)
    cmd = locust_command(config, strategy, base_url, fixtures, raw)
    watch = ServerWatch(base_url, pid=server_pid, cpu_quota=None if quota is None else quota.share)
    watch.sample()
    throttled_before = None if quota is None else quota.throttling()
    log_path = config.out / "locust" / f"{slug(strategy.spec)}.log"
    drain = config.drain_s if config.drain_s is not None else drain_seconds(strategy, config.hidden_fraction)
    limit = config.duration_s + drain + config.users / max(config.spawn_rate, 0.1) + 90.0
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=str(config.out))
        try:
            code = _wait(proc, watch, strategy.spec, limit, progress)
        except BaseException:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            raise
    watch.sample()
    cpu_quota = None
    if quota is not None and throttled_before is not None:
        cpu_quota = {**quota.describe(), **(quota.throttling() - throttled_before).as_dict()}
    merged = merge_raw(raw)
    server = watch.summary()
    generator = watch.generator
    result = strategy_result(
        strategy,
        merged,
        server,
        locust_csv=str(Path("locust") / slug(strategy.spec)),
        locust_html=str(Path("locust") / f"{slug(strategy.spec)}.html"),
        duration_s=config.duration_s,
        drain_s=drain,
        receiving_users=config.users,
        sender_users=config.senders,
        message_interval_s=config.message_interval_s,
        load_generator=generator,
        cpu_quota=cpu_quota,
    )
    return StrategyRun(strategy=strategy, result=result, merged=merged, locust_exit_code=code)


def server_flags(strategy: Strategy) -> tuple[str, ...]:
    """Server settings a strategy's spec implies: the SSE heartbeat is sent by the server."""
    if isinstance(strategy, ServerSentEvents):
        return ("--sse-heartbeat", f"{strategy.heartbeat_s:g}")
    return ()


def run_with_server(
    config: LoadTestConfig, strategy: Strategy, progress: Progress, *, customers: int | None = None
) -> StrategyRun:
    """Run one strategy against `config.host`, or against a fresh seeded server started for it."""
    if config.host is not None:
        assert config.fixtures is not None
        return run_strategy(config, strategy, config.host, config.fixtures, None, progress)
    options = ServerOptions(
        customers=customers or config.users,
        orders_per_customer=config.orders_per_customer,
        admins=config.admins,
        workdir=config.out / "server" / slug(strategy.spec),
        extra_args=server_flags(strategy),
        cpu_quota=config.server_cpu_quota,
    )
    with ServerProcess(options) as server:
        return run_strategy(
            config, strategy, server.base_url, server.fixtures, server.pid, progress, quota=server.quota
        )


def check_fixtures(path: Path, users: int) -> None:
    """A given fixtures file must have a customer for every receiving client."""
    fixtures = load_fixtures(path)
    if len(fixtures.customers) < users:
        from loadtests.fixtures import FixturesError

        raise FixturesError(
            f"{path}: {len(fixtures.customers)} customers for {users} users; seed at least as many customers"
        )


def deliveries_columns(runs: list[StrategyRun]) -> dict[str, Any]:
    """All strategies' delivery records as columns for pollbench.results.write_deliveries."""
    import pandas as pd

    frames = [r.merged.deliveries for r in runs]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return {c: df[c].to_numpy() if c in df else np.array([]) for c in df.columns}
