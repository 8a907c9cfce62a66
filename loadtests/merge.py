"""Merging the raw records of every Locust process into one strategy's measured results.

Each process (a local run, or every worker of a distributed one) wrote ``deliveries-*.csv``,
``sent-*.csv`` and ``process-*.json`` into the strategy's raw directory (see
:mod:`loadtests.recorder`). :func:`merge_raw` reads them all back and works out:

- the delivery records (:data:`pollbench.results.DELIVERY_COLUMNS`, latency = receive - commit, exact);
- **expected** deliveries: every message a sender posted into a receiving client's order after that
  client's starting cursor and before it stopped;
- **gaps**: expected deliveries the client never got; **duplicates**: messages a client got twice;
- traffic totals of receivers and senders over all processes, and client-minutes (for per-minute rates).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loadtests.recorder import Traffic
from pollbench.results import DELIVERY_COLUMNS, ResultsError

__all__ = ["MergedRun", "merge_raw"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MergedRun:
    """Everything the raw files of one strategy's run say."""

    deliveries: pd.DataFrame
    """One row per (client, message) first delivery, columns DELIVERY_COLUMNS."""
    expected: int
    """Deliveries that should have happened (messages posted to a client's orders while it listened)."""
    gaps: int
    """Expected deliveries that never arrived."""
    duplicates: int
    """Messages a client received more than once."""
    messages_posted: int
    """Messages the senders posted (acknowledged with 201)."""
    receivers: Traffic
    senders: Traffic
    clients: int
    """Receiving clients (sessions) over all processes."""
    client_minutes: float
    """Sum over clients of the minutes each was connected."""
    started_at: float
    stopped_at: float
    processes: int
    steady: Traffic | None = None
    """Receivers' traffic from the warm-up mark to the senders' stop (None when a process did not record
    it): the steady window."""
    steady_client_s: float = 0.0
    """Receivers' listening seconds in that window."""
    warm_at: float | None = None
    """Wall-clock time the steady window opened (the earliest process's warm-up mark), if recorded."""

    @property
    def wall_seconds(self) -> float:
        return max(0.0, self.stopped_at - self.started_at)


def _read_csvs(raw: Path, kind: str, dtypes: dict[str, Any]) -> pd.DataFrame:
    frames = [pd.read_csv(p, dtype=dtypes) for p in sorted(raw.glob(f"{kind}-*.csv")) if p.stat().st_size > 0]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes.items()})
    return pd.concat(frames, ignore_index=True)


_DELIVERY_TYPES = {
    "client": "str",
    "order_id": "str",
    "seq": "int64",
    "created_at": "float64",
    "received_at": "float64",
}
_SENT_TYPES = {"order_id": "str", "seq": "int64", "created_at": "float64", "sender_type": "str"}


_ZERO_MARK: dict[str, Any] = {"receivers": {}, "client_s": 0.0}
"""A run without a warm-up mark: the window starts at the beginning."""


def merge_raw(raw: str | Path) -> MergedRun:
    """Read every process's raw files in `raw` and merge them."""
    raw = Path(raw)
    states = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(raw.glob("process-*.json"))]
    if not states:
        raise ResultsError(f"{raw}: no process-*.json; the Locust run wrote no records (see its locust.log)")
    deliveries = _read_csvs(raw, "deliveries", _DELIVERY_TYPES)
    deliveries.insert(0, "strategy", str(states[0]["strategy"]))
    deliveries["latency_s"] = deliveries["received_at"] - deliveries["created_at"]
    deliveries = deliveries.sort_values(["received_at", "client", "seq"], kind="stable").reset_index(
        drop=True
    )
    sent = _read_csvs(raw, "sent", _SENT_TYPES)
    sessions = [s for st in states for s in st["sessions"]]
    receivers, senders = Traffic(), Traffic()
    for st in states:
        receivers.add(Traffic(**st["receivers"]))
        senders.add(Traffic(**st["senders"]))
    expected = _expected(sessions, sent)
    got = deliveries[["client", "order_id", "seq"]].drop_duplicates()
    missing = expected.merge(got, on=["client", "order_id", "seq"], how="left", indicator=True)
    gaps = int((missing["_merge"] == "left_only").sum())
    started = [st["started_at"] for st in states if st.get("started_at")]
    marks = [st.get("steady") for st in states]
    warms = [st.get("warm") or _ZERO_MARK for st in states]
    windows = list(zip(marks, warms, strict=True))
    steady: Traffic | None = None
    if marks and all(marks):
        steady = Traffic()
        for mark, warm in windows:
            window = Traffic(**mark["receivers"])
            window.subtract(Traffic(**warm["receivers"]))
            steady.add(window)
    return MergedRun(
        deliveries=deliveries[list(DELIVERY_COLUMNS)],
        expected=len(expected),
        gaps=gaps,
        duplicates=int(sum(s.get("duplicates", 0) for s in sessions)),
        messages_posted=len(sent),
        receivers=receivers,
        senders=senders,
        clients=len(sessions),
        client_minutes=float(sum(max(0.0, s["ended_at"] - s["started_at"]) for s in sessions)) / 60.0,
        started_at=min(started) if started else float("nan"),
        stopped_at=max(st["stopped_at"] for st in states),
        processes=len(states),
        steady=steady,
        steady_client_s=float(sum(m["client_s"] - w["client_s"] for m, w in windows if m)),
        warm_at=min((float(st["warm"]["at"]) for st in states if st.get("warm")), default=None),
    )


def _expected(sessions: list[dict[str, Any]], sent: pd.DataFrame) -> pd.DataFrame:
    """(client, order_id, seq) of every message posted into a client's order while it listened."""
    rows = [
        (s["client"], order, int(s["baseline_seq"]), float(s["ended_at"]))
        for s in sessions
        for order in s["orders"]
    ]
    watch = pd.DataFrame(rows, columns=["client", "order_id", "baseline_seq", "ended_at"])
    if watch.empty or sent.empty:
        return pd.DataFrame(
            {
                "client": pd.Series(dtype=str),
                "order_id": pd.Series(dtype=str),
                "seq": pd.Series(dtype=np.int64),
            }
        )
    pairs = watch.merge(sent[["order_id", "seq", "created_at"]], on="order_id")
    keep = (pairs["seq"] > pairs["baseline_seq"]) & (pairs["created_at"] <= pairs["ended_at"])
    return pairs.loc[keep, ["client", "order_id", "seq"]].drop_duplicates().reset_index(drop=True)
