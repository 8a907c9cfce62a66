"""One results schema for simulated and measured runs.

A results directory holds ``summary.json`` (one :class:`Summary`) and ``deliveries.parquet`` (one row per
delivered message, :data:`DELIVERY_COLUMNS`). The simulator writes ``source = "sim"``, the load tests
``source = "measured"``; reports and the CI check read both alike. Percentiles are computed here and
nowhere else (:func:`latency_stats`).
"""

from __future__ import annotations

import json
import platform
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "DELIVERY_COLUMNS",
    "SCHEMA_VERSION",
    "LatencyStats",
    "MessageCounts",
    "QueueWait",
    "ReconnectStorm",
    "ResultsError",
    "StrategyResult",
    "Summary",
    "latency_stats",
    "machine_info",
    "read_deliveries",
    "read_summary",
    "to_jsonable",
    "write_deliveries",
    "write_summary",
]

SCHEMA_VERSION = 1
Source = Literal["sim", "measured"]

DELIVERY_COLUMNS: tuple[str, ...] = (
    "strategy",  # canonical strategy spec, e.g. "poll:5"
    "client",  # receiving client id (customer or admin id)
    "order_id",
    "seq",  # the message's store-wide sequence number
    "created_at",  # commit time on the server, seconds (epoch for measured, sim clock for simulated)
    "received_at",  # time the recipient held the message, same clock
    "latency_s",  # received_at - created_at
)


class ResultsError(ValueError):
    """A results file that is missing, unreadable or not in the pollbench schema."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyStats:
    """Delivery latency distribution, seconds."""

    mean: float
    p50: float
    p95: float
    p99: float
    max: float
    count: int = 0
    """Number of samples the statistics were computed from."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueWait:
    """Time a request waited for the server's event loop, seconds."""

    mean: float
    p99: float


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageCounts:
    """Messages published to the strategy's clients and deliveries they received."""

    sent: int
    delivered: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconnectStorm:
    """One server process restarting: how fast its clients come back and what its event loop goes through.

    Times count from the crash; the process listens again ``downtime_s`` later. Written by the simulator's
    ``sim.reconnect`` when ``pollbench simulate --restart-downtime`` is given.
    """

    downtime_s: float
    """Seconds the process was down (crash at 0, listening again at downtime_s)."""
    clients: int
    """Clients of the restarted process."""
    notice: str
    """When clients notice the crash: 'at the crash' (held connections break) or 'at their next poll'."""
    back_50_s: float
    """Seconds after the crash until half the clients had a request through again."""
    back_99_s: float
    """Seconds until 99 % of the clients were back."""
    back_100_s: float
    """Seconds until the last client was back."""
    wait_peak_s: float
    """Longest time a request waited for the event loop during the storm."""
    wait_p99_s: float
    """99th percentile of the reconnect requests' waits for the event loop."""
    failed_attempts: int
    """Attempts refused while the process was down, all clients together."""
    failed_attempts_max: int
    """Most refused attempts of one client."""
    peak_rate_per_s: float
    """Highest arrival rate of requests at the loop after the restart (over rate_window_s bins)."""
    normal_rate_per_s: float
    """The same clients' request rate at the loop in normal operation."""
    rate_window_s: float
    """Width of the bins the peak rate is counted in."""
    capacity_per_s: float
    """Reconnects per second the loop can serve (1 / mean reconnect service time)."""
    saturated_s: float
    """Length of the loop's busy period holding the storm's longest wait: how long it stays saturated."""
    saturated_until_s: float
    """Seconds after the crash when that busy period ends (the storm's backlog has cleared)."""
    backoff: dict[str, Any] = field(default_factory=dict)
    """The retry policy the clients followed (pollbench.reconnect.Backoff fields)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyResult:
    """Everything pollbench reports for one strategy in one run."""

    latency_s: LatencyStats
    requests_per_s: float
    """HTTP requests (including connects and reconnects of push strategies) per second, all clients."""
    empty_poll_fraction: float
    """Share of polls that brought no new message (0 for push)."""
    bytes_per_client_per_min: float
    """Wire bytes both ways, headers included, per client per minute."""
    bytes_per_delivery: float
    """Wire bytes both ways divided by messages delivered."""
    server_utilization: float
    """Busy fraction of one server process (mean over processes)."""
    queue_wait_s: QueueWait
    open_connections: float
    """Mean concurrently open connections per server process."""
    energy_j_per_client_hour: float
    """Mobile radio energy per client-hour (LTE RRC model); NaN where not computed."""
    messages: MessageCounts
    bytes_per_poll: float | None = None
    """Mean wire bytes of one poll exchange (request + response); None for push strategies."""
    failures: int = 0
    """Failed requests or broken connections counted during the run."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Source-specific figures (e.g. Locust request counts, server CPU seconds); free-form."""
    reconnect_storm: ReconnectStorm | None = None
    """A simulated restart of one server process (simulate --restart-downtime); None when not modelled."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """The contents of ``summary.json``."""

    source: Source
    scenario: dict[str, Any]
    """Every input of the run, so it can be reproduced."""
    strategies: dict[str, StrategyResult]
    seed: int | None = None
    version: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION


def latency_stats(samples: npt.ArrayLike) -> LatencyStats:
    """Mean, p50, p95, p99 and max of latency samples (NaN when there are none).

    Percentiles use numpy's default linear interpolation; this is the only place pollbench computes them.
    """
    a = np.asarray(samples, dtype=float)
    a = a[np.isfinite(a)]
    if a.size == 0:
        nan = float("nan")
        return LatencyStats(mean=nan, p50=nan, p95=nan, p99=nan, max=nan, count=0)
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return LatencyStats(
        mean=float(a.mean()),
        p50=float(p50),
        p95=float(p95),
        p99=float(p99),
        max=float(a.max()),
        count=int(a.size),
    )


def machine_info() -> dict[str, Any]:
    """Where a run happened: recorded in every summary so numbers can be compared honestly."""
    import os

    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }


def to_jsonable(value: Any) -> Any:
    """`value` with NaN/inf as None (JSON has neither; None reads back as NaN) and numpy scalars as Python
    ones, recursively: what summary.json, ``simulate --json`` and a comparison's summary write."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    return value


def write_summary(directory: str | Path, summary: Summary) -> Path:
    """Write ``summary.json`` into `directory` (created if needed); returns the file's path."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    target = path / "summary.json"
    data = to_jsonable(asdict(summary))
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target


def _float(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _strategy_from_dict(name: str, d: Mapping[str, Any]) -> StrategyResult:
    lat = d["latency_s"]
    qw = d["queue_wait_s"]
    msgs = d["messages"]
    bpp = d.get("bytes_per_poll")
    return StrategyResult(
        latency_s=LatencyStats(
            mean=_float(lat["mean"]),
            p50=_float(lat["p50"]),
            p95=_float(lat["p95"]),
            p99=_float(lat["p99"]),
            max=_float(lat["max"]),
            count=int(lat.get("count", 0)),
        ),
        requests_per_s=_float(d["requests_per_s"]),
        empty_poll_fraction=_float(d["empty_poll_fraction"]),
        bytes_per_client_per_min=_float(d["bytes_per_client_per_min"]),
        bytes_per_delivery=_float(d["bytes_per_delivery"]),
        server_utilization=_float(d["server_utilization"]),
        queue_wait_s=QueueWait(mean=_float(qw["mean"]), p99=_float(qw["p99"])),
        open_connections=_float(d["open_connections"]),
        energy_j_per_client_hour=_float(d["energy_j_per_client_hour"]),
        messages=MessageCounts(sent=int(msgs["sent"]), delivered=int(msgs["delivered"])),
        bytes_per_poll=None if bpp is None else float(bpp),
        failures=int(d.get("failures", 0)),
        extra=dict(d.get("extra", {})),
        reconnect_storm=_storm_from_dict(d.get("reconnect_storm")),
    )


def _storm_from_dict(d: Mapping[str, Any] | None) -> ReconnectStorm | None:
    """The optional storm block; summaries written before it existed simply lack it."""
    if d is None:
        return None
    return ReconnectStorm(
        downtime_s=_float(d["downtime_s"]),
        clients=int(d["clients"]),
        notice=str(d["notice"]),
        back_50_s=_float(d["back_50_s"]),
        back_99_s=_float(d["back_99_s"]),
        back_100_s=_float(d["back_100_s"]),
        wait_peak_s=_float(d["wait_peak_s"]),
        wait_p99_s=_float(d["wait_p99_s"]),
        failed_attempts=int(d["failed_attempts"]),
        failed_attempts_max=int(d["failed_attempts_max"]),
        peak_rate_per_s=_float(d["peak_rate_per_s"]),
        normal_rate_per_s=_float(d["normal_rate_per_s"]),
        rate_window_s=_float(d["rate_window_s"]),
        capacity_per_s=_float(d["capacity_per_s"]),
        saturated_s=_float(d["saturated_s"]),
        saturated_until_s=_float(d["saturated_until_s"]),
        backoff=dict(d.get("backoff", {})),
    )


def read_summary(path: str | Path) -> Summary:
    """Read a ``summary.json`` (or the one inside a results directory) with schema checks."""
    p = Path(path)
    if p.is_dir():
        p = p / "summary.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{p}: no such file; a results directory holds summary.json") from None
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("source") not in ("sim", "measured"):
        raise ResultsError(f"{p}: not a pollbench summary (needs 'source' of 'sim' or 'measured')")
    try:
        strategies = {name: _strategy_from_dict(name, s) for name, s in data["strategies"].items()}
        return Summary(
            source=data["source"],
            scenario=dict(data.get("scenario", {})),
            strategies=strategies,
            seed=data.get("seed"),
            version=str(data.get("version", "")),
            machine=dict(data.get("machine", {})),
            schema=int(data.get("schema", SCHEMA_VERSION)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ResultsError(
            f"{p}: summary does not follow the pollbench schema: missing or bad {exc}"
        ) from None


def write_deliveries(directory: str | Path, columns: Mapping[str, Sequence[Any] | npt.NDArray[Any]]) -> Path:
    """Write per-message records to ``deliveries.parquet``; `columns` maps DELIVERY_COLUMNS to arrays."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    missing = [c for c in DELIVERY_COLUMNS if c not in columns]
    if missing:
        raise ResultsError(f"delivery records lack columns {missing}")
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    table = pa.table({c: columns[c] for c in columns})
    target = path / "deliveries.parquet"
    pq.write_table(table, target)
    return target


def read_deliveries(directory: str | Path) -> Any:
    """Read ``deliveries.parquet`` of a results directory into a pandas DataFrame."""
    import pandas as pd

    p = Path(directory)
    if p.is_dir():
        p = p / "deliveries.parquet"
    if not p.exists():
        raise ResultsError(f"{p}: no such file")
    return pd.read_parquet(p)
