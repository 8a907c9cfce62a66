"""A measured knee search: one Locust run steered probe by probe until the SLO breaks, then bisected.

For one strategy, against one running server (usually under a CPU quota), :class:`MeasuredKnee` is the
probe of :func:`pollbench.capacity.search_knee`: for each client count it asks the Locust run (through the
control file, :mod:`loadtests.control`) to hold that many receivers, waits until they run and have settled,
judges a window of messages, and returns a :class:`~pollbench.capacity.KneeStep`:

- **latency**: p99 delivery of the messages committed in the window, read from every process's raw records
  (:mod:`loadtests.raw_tail`); a message still missing when the probe is judged counts with its wait so far;
- **utilization**: the server's CPU over the window and tail (from /proc, :mod:`loadtests.process_watch`),
  as a busy fraction of its quota;
- **connections** and **memory**: the most file descriptors (less those the idle server held) and the most
  resident memory during the probe; **failures**: failed share of every request in the window;
- the load generator's own CPU: a probe during which a Locust process was saturated is *inconclusive* (its
  limit, not the server's), and ends the search.

Going up, the run adds receivers; going down (bisecting), Locust stops the newest ones and their customers'
orders stop receiving messages. Runs in the pollbench process: it never imports Locust.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from loadtests.control import Target, read_status, status_path, write_target
from loadtests.process_watch import ProcessWatch
from loadtests.raw_tail import RawTail, window_latencies
from pollbench.capacity import KneeStep, Slo
from pollbench.results import latency_stats
from pollbench.strategies import Strategy

__all__ = ["KneeSettings", "MeasuredKnee", "ProbeError"]

Progress = Callable[[str], None]
"""Called with a line of news (probe started, judged...)."""


class ProbeError(RuntimeError):
    """The Locust run could not be steered (it exited, or never reached a probe's client count)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KneeSettings:
    """How each probe of a measured search runs."""

    window_s: float = 20.0
    """Seconds of messages judged per probe."""
    spawn_rate: float = 250.0
    """Receivers started (or stopped) per second between probes."""
    settle_s: float = 5.0
    """Seconds after the receivers run (plus the strategy's worst wait) before the window opens: the
    connect storm of a step up leaves full garbage collections behind it (their pause grows with the
    connections held: ~0.45 s at 12 000 SSE streams on a whole core here, five times that at 0.2)."""
    generator_cpu_limit: float = 0.9
    """A Locust process busier than this share of a core makes a probe inconclusive."""
    sample_every_s: float = 0.5
    """Seconds between samples of the server (connections, memory)."""


class MeasuredKnee:
    """The probe of a measured knee search over one Locust run and one server."""

    def __init__(
        self,
        *,
        strategy: Strategy,
        slo: Slo,
        server_pid: int,
        locust: psutil.Popen | Any,
        raw_dir: Path,
        control: Path,
        cpu_quota: float | None,
        connection_limit: int,
        settings: KneeSettings,
        replay: Callable[[int], KneeStep] | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.strategy = strategy
        self.slo = slo
        self.locust = locust
        self.control = control
        self.quota = cpu_quota or 1.0
        self.connection_limit = connection_limit
        self.settings = settings
        self.replay = replay
        self.progress = progress or (lambda _line: None)
        self.server = ProcessWatch(server_pid)
        baseline = self.server.sample()
        self.baseline_fds = baseline.fds
        self.baseline_rss = baseline.rss_bytes
        self.tail = RawTail(raw_dir)
        self.probes = 0
        self.running = 0

    # --- one probe ----------------------------------------------------------------------------------

    def __call__(self, clients: int) -> KneeStep:
        self.probes += 1
        going_down = clients < self.running
        self.progress(
            f"probe {self.probes}: {clients:,} clients ({'down' if going_down else 'up'} "
            f"from {self.running:,})"
        )
        ready = self._reach(clients)
        self.running = clients
        settle = self.settings.settle_s + self.strategy.worst_wait_s + (2.0 if going_down else 0.0)
        self._sleep(settle)
        return self._judge(clients, ready)

    def _reach(self, clients: int) -> int:
        """Ask for `clients` receivers and wait until the run holds them and every one receives (page
        loaded, stream connected); returns how many receive. A server too slow to let them all in within
        the time (a connect storm it cannot absorb, descriptors exhausted) is judged as it is."""
        write_target(
            self.control, Target(receivers=clients, spawn_rate=self.settings.spawn_rate, probe=self.probes)
        )
        moves = abs(clients - self.running)
        deadline = time.monotonic() + 60.0 + 4.0 * moves / self.settings.spawn_rate
        started = False
        while time.monotonic() < deadline:
            self._check_alive()
            if not started:
                status = read_status(status_path(self.control))
                started = (
                    status is not None and status.probe == self.probes and status.users == status.target_users
                )
            if started:
                ready = self.tail.counters().ready
                if ready >= clients:
                    return ready
            time.sleep(0.25)
        if not started:
            raise ProbeError(
                f"the Locust run did not start {clients:,} receivers in time; the load generator cannot "
                "start clients this fast (lower --spawn-rate or add --processes)"
            )
        ready = self.tail.counters().ready
        waited = 60 + 4 * moves / self.settings.spawn_rate
        self.progress(f"  only {ready:,} of {clients:,} clients receive after {waited:.0f} s")
        return ready

    def _judge(self, clients: int, ready: int) -> KneeStep:
        s = self.settings
        tail_s = self.strategy.worst_wait_s + 2.0
        generator = _Generator(self.locust.pid)
        start = self.server.restart()
        counters0 = self.tail.counters()
        window = (start.at, start.at + s.window_s)
        self._sample_until(window[1] + tail_s)
        end = self.server.samples[-1]
        counters1 = self.tail.counters()
        self.tail.poll()
        latencies, missing = window_latencies(self.tail, window, end.at)
        stats = latency_stats(latencies)
        requests = counters1.requests - counters0.requests
        failures = counters1.failures - counters0.failures
        fail_ratio = failures / requests if requests > 0 else (1.0 if failures else 0.0)
        utilization = self.server.cpu_cores / self.quota
        connections = float(self.server.max_fds - self.baseline_fds)
        rss = float(self.server.max_rss)
        busiest = generator.busiest_core_share()
        if ready < clients:  # clients that never got in are failed requests, whatever they counted
            fail_ratio = max(fail_ratio, (clients - ready) / clients)
        limits = self.slo.judge(
            self.strategy,
            p99_s=stats.p99,
            messages=stats.count,
            utilization=utilization,
            fail_ratio=fail_ratio,
            open_connections=connections,
            connection_limit=self.connection_limit,
            rss_bytes=rss,
        )
        conclusive = busiest <= s.generator_cpu_limit or bool(limits)
        detail: dict[str, Any] = {
            "window_s": [window[0], window[1]],
            "judged_at": end.at,
            "undelivered": missing,
            "requests": requests,
            "failures": failures,
            "receivers_started": counters1.sessions,
            "receivers_ready": ready,
            "server_cpu_cores": self.server.cpu_cores,
            "generator_busiest_core_share": busiest,
            "generator_processes": generator.processes,
            "baseline_rss_bytes": self.baseline_rss,
            "baseline_fds": self.baseline_fds,
        }
        if not conclusive:
            detail["inconclusive"] = f"a Locust process used {busiest:.0%} of a core"
        if self.replay is not None:
            simulated = self.replay(clients)
            detail["sim"] = {
                "p50_s": simulated.p50_s,
                "p99_s": simulated.p99_s,
                "server_utilization": simulated.server_utilization,
                "open_connections": simulated.open_connections,
                "ok": simulated.ok,
            }
        step = KneeStep(
            clients=clients,
            p50_s=stats.p50,
            p99_s=stats.p99,
            server_utilization=utilization,
            open_connections=connections,
            rss_bytes=rss,
            fail_ratio=fail_ratio,
            ok=not limits,
            limited_by=limits,
            messages=stats.count,
            conclusive=conclusive,
            detail=detail,
        )
        self.progress(_describe(step))
        return step

    # --- plumbing -----------------------------------------------------------------------------------

    def _sample_until(self, until: float) -> None:
        while (left := until - time.time()) > 0:
            time.sleep(min(self.settings.sample_every_s, left))
            self._check_alive()
            self.server.sample()

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(0.5, left))
            self._check_alive()

    def _check_alive(self) -> None:
        if self.locust.poll() is not None:
            code = self.locust.returncode
            raise ProbeError(f"the Locust run exited (code {code}) during probe {self.probes}")
        if not Path(f"/proc/{self.server.pid}").exists():
            raise ProbeError(f"the server under test exited during probe {self.probes}")

    def stop(self) -> None:
        """End the Locust run (it exits on its own once the shape returns None)."""
        write_target(
            self.control,
            Target(receivers=0, spawn_rate=self.settings.spawn_rate, probe=self.probes + 1, stop=True),
        )


class _Generator:
    """CPU of the Locust process tree over a probe: the busiest process's share of a core."""

    def __init__(self, pid: int) -> None:
        self.started = time.monotonic()
        self.cpu0: dict[int, float] = {}
        try:
            root = psutil.Process(pid)
            for p in [root, *root.children(recursive=True)]:
                t = p.cpu_times()
                self.cpu0[p.pid] = t.user + t.system
        except psutil.Error:
            pass
        self.processes = len(self.cpu0)

    def busiest_core_share(self) -> float:
        wall = time.monotonic() - self.started
        best = 0.0
        for pid, before in self.cpu0.items():
            try:
                t = psutil.Process(pid).cpu_times()
            except psutil.Error:
                continue
            best = max(best, (t.user + t.system - before) / wall if wall > 0 else 0.0)
        return best


def _describe(step: KneeStep) -> str:
    verdict = "ok" if step.ok else "broke " + ", ".join(step.limited_by)
    if not step.conclusive:
        verdict = "inconclusive: " + str(step.detail.get("inconclusive", ""))
    p99 = "-" if math.isnan(step.p99_s) else f"{step.p99_s:.2f} s"
    return (
        f"  {step.clients:,} clients: p99 {p99} ({step.messages} msgs), server "
        f"{step.server_utilization:.0%} of its CPU, {step.open_connections:,.0f} conns, "
        f"{step.rss_bytes / 2**20:,.0f} MiB, fail {step.fail_ratio:.1%} -> {verdict}"
    )
