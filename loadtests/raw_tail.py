"""Reading a running load test's raw records as they grow (for the knee search, which judges as it goes).

Every Locust process appends ``sent-*.csv`` and ``deliveries-*.csv`` and rewrites ``counters-*.json``
every second (:meth:`loadtests.recorder.Recorder.flush_counters`). :class:`RawTail` remembers how far it has
read each file and takes only complete lines, so a row a process is still writing is read next time.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from loadtests.recorder import Traffic

__all__ = ["Counters", "RawTail", "window_latencies"]


@dataclass(slots=True)
class Counters:
    """Traffic of every process at one moment (summed), and how many receivers had started."""

    receivers: Traffic = field(default_factory=Traffic)
    senders: Traffic = field(default_factory=Traffic)
    sessions: int = 0
    ready: int = 0
    """Receivers receiving now (page loaded or stream connected), every process."""
    processes: int = 0

    @property
    def requests(self) -> int:
        return self.receivers.requests + self.senders.requests

    @property
    def failures(self) -> int:
        return self.receivers.failures + self.senders.failures


class RawTail:
    """The sent messages and first deliveries of a raw directory, read incrementally."""

    def __init__(self, raw_dir: Path) -> None:
        self.raw_dir = raw_dir
        self._offsets: dict[Path, int] = {}
        self.sent: list[tuple[str, int, float]] = []
        """(order, seq, created_at) of every message posted so far."""
        self.first_delivery: dict[tuple[str, int], float] = {}
        """(order, seq) -> earliest time any receiver held it."""

    def _new_rows(self, path: Path) -> list[list[str]]:
        start = self._offsets.get(path, 0)
        with path.open("rb") as f:
            f.seek(start)
            chunk = f.read()
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self._offsets[path] = start + end + 1
        lines = chunk[: end + 1].decode("utf-8").splitlines()
        if start == 0 and lines:
            lines = lines[1:]  # the header
        return [row for row in csv.reader(lines) if row]

    def poll(self) -> None:
        """Read what every process appended since the last call."""
        for path in sorted(self.raw_dir.glob("sent-*.csv")):
            for order, seq, created, *_ in self._new_rows(path):
                self.sent.append((order, int(seq), float(created)))
        for path in sorted(self.raw_dir.glob("deliveries-*.csv")):
            for _client, order, seq, _created, received in self._new_rows(path):
                key, t = (order, int(seq)), float(received)
                if t < self.first_delivery.get(key, np.inf):
                    self.first_delivery[key] = t

    def counters(self) -> Counters:
        """The latest counters of every process, summed."""
        total = Counters()
        for path in sorted(self.raw_dir.glob("counters-*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (FileNotFoundError, json.JSONDecodeError):
                continue  # being replaced right now: the next read has it
            total.receivers.add(Traffic(**data["receivers"]))
            total.senders.add(Traffic(**data["senders"]))
            total.sessions += int(data["sessions"])
            total.ready += int(data.get("ready", 0))
            total.processes += 1
        return total


def window_latencies(
    tail: RawTail, window: tuple[float, float], judged_at: float
) -> tuple[npt.NDArray[np.float64], int]:
    """Delivery latencies of the messages committed in `window`, and how many were still undelivered at
    `judged_at` (those count with the time they have waited so far: a lower bound, so an overloaded probe
    cannot look fast by delivering only its easy messages)."""
    lo, hi = window
    out: list[float] = []
    missing = 0
    for order, seq, created in tail.sent:
        if not lo <= created <= hi:
            continue
        received = tail.first_delivery.get((order, seq))
        if received is None or received > judged_at:
            missing += 1
            out.append(judged_at - created)
        else:
            out.append(received - created)
    return np.asarray(out, dtype=np.float64), missing
