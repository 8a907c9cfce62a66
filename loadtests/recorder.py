"""The delivery recorder: what every receiving client got, when, and at what cost, per Locust process.

Each Locust process (a local run, or every worker of a distributed run) owns one :class:`Recorder`.
It keeps, unrounded:

- **deliveries** — one row per message a client received: which client, order and ``seq``, the
  server's commit time (``createdAt``) and the local receive time. Both clocks are the same machine's
  wall clock, because the load test runs on loopback;
- **sent** — every message the sender users posted (order, ``seq``, commit time), so the merge step can
  tell gaps (sent, never delivered) from deliveries;
- **sessions** — each receiving client's orders and the ``seq`` cursor it started from, so only messages
  committed after it joined are expected;
- **traffic** — requests, failures, polls, empty polls and wire bytes both ways, for receivers and
  senders separately.

It writes them into a raw directory as ``<kind>-<tag>.csv`` / ``.json`` files with a per-process tag,
which :mod:`loadtests.merge` reads back after the run. Nothing here imports Locust.
"""

from __future__ import annotations

import csv
import json
import os
import socket
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

__all__ = ["Recorder", "Session", "Traffic", "parse_created_at", "process_tag"]

DELIVERY_HEADER = ("client", "order_id", "seq", "created_at", "received_at")
SENT_HEADER = ("order_id", "seq", "created_at", "sender_type")


def parse_created_at(text: str) -> float:
    """Epoch seconds of a server timestamp such as ``2026-11-26T10:00:00.123Z``."""
    return datetime.fromisoformat(text).timestamp()


def process_tag() -> str:
    """A tag unique to this process on this machine (raw files of workers must not collide)."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(slots=True)
class Traffic:
    """Counters of one kind of client in one process; mutable because they count."""

    requests: int = 0
    """HTTP requests, WebSocket handshakes and SSE connects."""
    failures: int = 0
    """Requests that failed (bad status, broken or refused connection, timeout)."""
    polls: int = 0
    """Poll exchanges: a tick of a polling strategy or one long-poll request."""
    empty_polls: int = 0
    """Polls that brought no new message."""
    bytes_sent: int = 0
    """Wire bytes written, request lines and headers included."""
    bytes_received: int = 0
    """Wire bytes read, status lines, headers and framing included."""
    body_bytes: int = 0
    """Payload bytes only (decoded bodies, SSE data, WebSocket payloads), both ways."""
    poll_bytes: int = 0
    """Wire bytes (both ways) of all poll exchanges."""
    connects: int = 0
    """TCP connections opened."""
    setup_requests: int = 0
    """One-off requests among ``requests``: page loads and a push client's first connect."""

    def add(self, other: Traffic) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def subtract(self, other: Traffic) -> None:
        """Counts since `other` was taken (a snapshot of these counters earlier in the run)."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) - getattr(other, name))


@dataclass(slots=True)
class Session:
    """One receiving client's view of the run."""

    client: str
    orders: list[str]
    baseline_seq: int
    """Cursor the client started from: messages with a higher seq are expected to arrive."""
    started_at: float
    ended_at: float = 0.0
    seen: set[tuple[str, int]] = field(default_factory=set)
    duplicates: int = 0

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("seen")
        d["delivered"] = len(self.seen)
        return d


class Recorder:
    """Per-process record of deliveries, sent messages, client sessions and traffic."""

    def __init__(self, *, strategy: str, raw_dir: Path | None, tag: str | None = None) -> None:
        self.strategy = strategy
        self.raw_dir = raw_dir
        self.tag = tag or process_tag()
        self.receivers = Traffic()
        self.senders = Traffic()
        self.sessions: list[Session] = []
        self.delivered_count = 0
        self.sent_count = 0
        self.ready = 0
        """Receivers of this process now receiving (page loaded, or stream connected)."""
        self.started_at: float | None = None
        self.steady: dict[str, Any] | None = None
        """Receivers' traffic and client-seconds when the senders stopped (see :meth:`mark_steady`)."""
        self.warm: dict[str, Any] | None = None
        """The same snapshot after the warm-up (one poll interval into sending)."""
        self._files: list[IO[str]] = []
        self._deliveries: Any = None
        self._sent: Any = None

    def _open(self, kind: str, header: tuple[str, ...]) -> Any:
        """A csv writer on this process's `kind` file (None when records are not kept)."""
        if self.raw_dir is None:
            return None
        self.raw_dir.mkdir(parents=True, exist_ok=True)
        path = self.raw_dir / f"{kind}-{self.tag}.csv"
        f = path.open("a", encoding="utf-8", newline="", buffering=1 << 16)
        self._files.append(f)
        writer = csv.writer(f)
        if f.tell() == 0:
            writer.writerow(header)
        return writer

    def start_session(self, client: str, orders: Sequence[str], baseline_seq: int, now: float) -> Session:
        """Register a receiving client that starts expecting messages after `baseline_seq`."""
        s = Session(
            client=client, orders=list(orders), baseline_seq=baseline_seq, started_at=now, ended_at=now
        )
        self.sessions.append(s)
        return s

    def delivered(
        self, session: Session, order_id: str, seq: int, created_at: float, received_at: float
    ) -> bool:
        """Record one received message; False (and counted) when the client already had it."""
        session.ended_at = received_at
        key = (order_id, seq)
        if key in session.seen:
            session.duplicates += 1
            return False
        session.seen.add(key)
        self.delivered_count += 1
        if self._deliveries is None:
            self._deliveries = self._open("deliveries", DELIVERY_HEADER)
        if self._deliveries is not None:
            # repr keeps every digit of the float: the records are exact, unlike Locust's rounded stats.
            self._deliveries.writerow((session.client, order_id, seq, repr(created_at), repr(received_at)))
        return True

    def sent(self, order_id: str, seq: int, created_at: float, sender_type: str) -> None:
        """Record one message a sender posted and the server acknowledged."""
        self.sent_count += 1
        if self._sent is None:
            self._sent = self._open("sent", SENT_HEADER)
        if self._sent is not None:
            self._sent.writerow((order_id, seq, repr(created_at), sender_type))

    def mark_steady(self, now: float, *, warm: bool = False) -> None:
        """Snapshot the receivers' counters after the warm-up (``warm``) and as the senders stop.

        Between the two the load is steady. Before: clients are starting, and each one's first poll comes
        sooner than a full interval after its page load. After: the drain, when no message arrives and
        pollers only find nothing. ``client_s`` is the receivers' listening time up to ``now``.
        """
        mark = {
            "at": now,
            "receivers": asdict(self.receivers),
            "client_s": sum(max(0.0, now - s.started_at) for s in self.sessions),
        }
        if warm:
            self.warm = mark
        else:
            self.steady = mark

    def flush(self, now: float) -> None:
        """Write sessions and traffic, and flush the record files (called when a test stops)."""
        for f in self._files:
            f.flush()
        if self.raw_dir is None:
            return
        self.raw_dir.mkdir(parents=True, exist_ok=True)
        for s in self.sessions:
            s.ended_at = max(s.ended_at, now)
        state = {
            "strategy": self.strategy,
            "tag": self.tag,
            "started_at": self.started_at,
            "stopped_at": now,
            "receivers": asdict(self.receivers),
            "senders": asdict(self.senders),
            "sessions": [s.to_json() for s in self.sessions],
            "steady": self.steady,
            "warm": self.warm,
        }
        path = self.raw_dir / f"process-{self.tag}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        tmp.replace(path)

    def flush_counters(self, now: float) -> None:
        """Flush the record files and write this process's traffic counters so far (``counters-TAG.json``):
        a knee search reads them every second while the run goes on. Cheap: no per-session data."""
        for f in self._files:
            f.flush()
        if self.raw_dir is None:
            return
        self.raw_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "tag": self.tag,
            "at": now,
            "receivers": asdict(self.receivers),
            "senders": asdict(self.senders),
            "sessions": len(self.sessions),
            "ready": self.ready,
        }
        path = self.raw_dir / f"counters-{self.tag}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        tmp.replace(path)

    def close(self, now: float) -> None:
        self.flush(now)
        for f in self._files:
            f.close()
        self._files.clear()
        self._deliveries = self._sent = None
