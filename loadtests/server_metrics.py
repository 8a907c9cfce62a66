"""The server's side of a load test: CPU seconds, memory and open connections from ``GET /metrics``.

``pollbench serve`` exposes Prometheus text (``process_cpu_seconds_total``,
``process_resident_memory_bytes``, ``pollbench_open_push_connections{kind=...}``, request counters). The
load test reads it at the start and the end of each strategy's run, and samples it in between to get
mean open connections and the server's busy fraction of the CPU it may use (a core, or its CPU quota's
share of one). TCP connections of polling clients do not show in the push gauge, so when the server runs
on this machine its established connections are counted with psutil as well.
"""

from __future__ import annotations

import math
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MetricsSample", "ServerWatch", "parse_metrics", "scrape"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsSample:
    """One scrape of the server."""

    at: float
    """Wall-clock time of the scrape."""
    cpu_seconds: float
    """process_cpu_seconds_total (NaN when the server does not export it)."""
    rss_bytes: float
    """process_resident_memory_bytes."""
    open_push: dict[str, float] = field(default_factory=dict)
    """Open push connections by kind (sse, ws, longpoll...)."""
    tcp_connections: float = math.nan
    """Established TCP connections of the server process (psutil; NaN when not local)."""

    @property
    def open_connections(self) -> float:
        """The best count of open client connections this sample has."""
        if not math.isnan(self.tcp_connections):
            return self.tcp_connections
        return float(sum(self.open_push.values()))


def parse_metrics(text: str) -> tuple[float, float, dict[str, float]]:
    """CPU seconds, RSS bytes and open push connections by kind from Prometheus text."""
    from prometheus_client.parser import text_string_to_metric_families

    cpu = rss = math.nan
    push: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "process_cpu_seconds_total":
                cpu = float(sample.value)
            elif sample.name == "process_resident_memory_bytes":
                rss = float(sample.value)
            elif sample.name == "pollbench_open_push_connections":
                push[str(sample.labels.get("kind", "push"))] = float(sample.value)
    return cpu, rss, push


def _established(pid: int | None) -> float:
    if pid is None:
        return math.nan
    try:
        import psutil

        return float(
            sum(1 for c in psutil.Process(pid).net_connections(kind="tcp") if c.status == "ESTABLISHED")
        )
    except Exception:  # the process ended or is not ours to inspect: report unknown, never fail the run
        return math.nan


def scrape(base_url: str, *, pid: int | None = None, timeout: float = 5.0) -> MetricsSample | None:
    """One scrape; None when the server cannot be reached (recorded as missing, not fatal)."""
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/metrics", timeout=timeout) as resp:
            text = resp.read().decode("utf-8")
    except OSError:
        return None
    cpu, rss, push = parse_metrics(text)
    return MetricsSample(
        at=time.time(), cpu_seconds=cpu, rss_bytes=rss, open_push=push, tcp_connections=_established(pid)
    )


class ServerWatch:
    """Samples the server during a run; summarises CPU use and connections between first and last sample."""

    def __init__(self, base_url: str, *, pid: int | None = None, cpu_quota: float | None = None) -> None:
        self.base_url = base_url
        self.pid = pid
        self.cpu_quota = cpu_quota
        """Share of one core the server may use (its CPU-quota group); None: a whole core."""
        self.samples: list[MetricsSample] = []
        self.generator: dict[str, float] = {}
        """CPU use of the load generator (Locust) during the same run, filled in by the runner."""

    def sample(self) -> MetricsSample | None:
        s = scrape(self.base_url, pid=self.pid)
        if s is not None:
            self.samples.append(s)
        return s

    def summary(self) -> dict[str, Any]:
        """Start/end figures, CPU seconds used, busy fraction and mean/max open connections.

        ``utilization`` is the busy fraction of the CPU the server may use: CPU seconds / (wall seconds x
        quota), a quota being a share of one core (one core without a quota), so near 1.0 the server is
        saturated either way. ``cpu_cores`` is the raw CPU seconds per wall second."""
        if len(self.samples) < 2:
            return {"scrapes": len(self.samples)}
        first, last = self.samples[0], self.samples[-1]
        wall = last.at - first.at
        cpu = last.cpu_seconds - first.cpu_seconds
        cores = cpu / wall if wall > 0 else math.nan
        conns = [s.open_connections for s in self.samples[1:]]
        return {
            "scrapes": len(self.samples),
            "cpu_seconds_start": first.cpu_seconds,
            "cpu_seconds_end": last.cpu_seconds,
            "cpu_seconds": cpu,
            "utilization": cores / (self.cpu_quota or 1.0),
            "cpu_cores": cores,
            "cpu_quota": self.cpu_quota,
            "rss_bytes_start": first.rss_bytes,
            "rss_bytes_end": last.rss_bytes,
            "rss_bytes_max": max(s.rss_bytes for s in self.samples),
            "open_push_start": first.open_push,
            "open_push_end": last.open_push,
            "open_push_max": max((sum(s.open_push.values()) for s in self.samples), default=0.0),
            "open_connections_mean": sum(conns) / len(conns),
            "open_connections_max": max(conns),
        }
