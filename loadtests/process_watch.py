"""What a local process is spending: CPU seconds, resident memory and open file descriptors, from /proc.

A knee search samples the server under test this way rather than through its ``/metrics`` endpoint: a
server saturated at its CPU quota answers a scrape late or not at all, exactly when the figure matters.
CPU comes from ``/proc/PID/task/*/schedstat`` (nanoseconds of run time, every thread) where the kernel has
it, else from ``/proc/PID/stat`` (clock ticks).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessSample", "ProcessWatch", "sample_process"]

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessSample:
    """One reading of a process."""

    at: float
    """Wall-clock time (time.time())."""
    cpu_s: float
    """CPU seconds (user + system, every thread) since the process started."""
    rss_bytes: int
    """Resident memory."""
    fds: int
    """Open file descriptors (sockets included)."""


def _cpu_s(proc: Path) -> float:
    total = 0
    try:
        for task in (proc / "task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue  # a thread that just ended
        if total > 0:
            return total / 1e9
    except FileNotFoundError:
        raise ProcessLookupError(str(proc)) from None
    fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * _TICK_S


def sample_process(pid: int) -> ProcessSample:
    """One reading; ProcessLookupError when the process is gone."""
    proc = Path(f"/proc/{pid}")
    try:
        cpu = _cpu_s(proc)
        rss = int((proc / "statm").read_text().split()[1]) * _PAGE
        fds = len(os.listdir(proc / "fd"))
    except FileNotFoundError:
        raise ProcessLookupError(f"process {pid} is gone") from None
    return ProcessSample(at=time.time(), cpu_s=cpu, rss_bytes=rss, fds=fds)


class ProcessWatch:
    """Samples of one process over a span: CPU used between the first and last, the most memory and fds."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[ProcessSample] = []

    def sample(self) -> ProcessSample:
        s = sample_process(self.pid)
        self.samples.append(s)
        return s

    def restart(self) -> ProcessSample:
        """Forget earlier samples and take the first of a new span."""
        self.samples.clear()
        return self.sample()

    @property
    def cpu_cores(self) -> float:
        """Mean cores used over the span (CPU seconds / wall seconds)."""
        first, last = self.samples[0], self.samples[-1]
        wall = last.at - first.at
        return (last.cpu_s - first.cpu_s) / wall if wall > 0 else float("nan")

    @property
    def max_fds(self) -> int:
        return max(s.fds for s in self.samples)

    @property
    def max_rss(self) -> int:
        return max(s.rss_bytes for s in self.samples)
