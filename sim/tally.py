"""Tally: what a simulated strategy run counts, turned into the shared results schema at the end.

Every model (fast path or SimPy) feeds one :class:`Tally` per strategy: requests and bytes, polls and empty
polls, server busy time and queue waits, open connection-seconds, delivery latencies, and the network
activity of a seeded sample of clients for the radio-energy model. :meth:`Tally.result` builds the
:class:`pollbench.results.StrategyResult`; percentiles come from :func:`pollbench.results.latency_stats`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from pollbench.results import LatencyStats, MessageCounts, QueueWait, StrategyResult, latency_stats
from sim.energy import RadioModel, energy_joules_per_client

__all__ = ["WAIT_SAMPLE_CAP", "LoopRecord", "Tally"]

FloatArray = npt.NDArray[np.float64]
WAIT_SAMPLE_CAP = 500_000
"""Queue waits kept for the p99 (every k-th request); the mean uses every request."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopRecord:
    """What one server process's event loop was like, for work the queue model does not carry (POSTs)."""

    scale: float
    """Factor on the process's calibrated service times (connection factor / quota)."""
    exposure_s2: float
    """Cold-start penalty integrated over the loop's idle time (``FifoServer.exposure_s2``), s²."""
    penalty_s: float
    """Cold-start penalties of the jobs the loop queued (part of the busy time)."""


class LoopStats(Protocol):
    """What a finished event loop reports (``sim.server.FifoServer``, the SimPy model's loop)."""

    @property
    def exposure_s2(self) -> float: ...
    @property
    def penalty_s(self) -> float: ...


class Tally:
    """Running totals of one strategy's run over `duration_s` seconds on `servers` processes."""

    def __init__(
        self,
        *,
        duration_s: float,
        servers: int,
        clients: int,
        energy_clients: npt.NDArray[np.int64],
        expected_requests: float,
        record_stride: int = 1,
        memory_per_keepalive_bytes: float = 0.0,
        memory_per_stream_bytes: float = 0.0,
    ) -> None:
        self.duration_s = duration_s
        self.servers = servers
        self.clients = clients
        self.requests = 0
        self.bytes = 0.0
        self.polls = 0
        self.empty_polls = 0
        self.busy_s = 0.0
        self.wait_sum = 0.0
        self.wait_n = 0
        self.sent = 0
        self.connection_s = 0.0
        """Connection-seconds of every open connection (keep-alive, parked, streaming)."""
        self.stream_s = 0.0
        """The part of connection_s spent as a push stream or a parked long-poll (the costlier memory)."""
        self.memory_per_keepalive_bytes = memory_per_keepalive_bytes
        self.memory_per_stream_bytes = memory_per_stream_bytes
        self.loops: list[LoopRecord] = []
        """Per server process: its speed and idle exposure, for work outside the queue model (POSTs)."""
        self.failures = 0
        self.extra: dict[str, Any] = {}
        self._wait_stride = max(1, int(expected_requests // WAIT_SAMPLE_CAP))
        self._wait_samples: list[FloatArray] = []
        self._latencies: list[FloatArray] = []
        self._records: list[dict[str, npt.NDArray[Any]]] = []
        self._record_stride = max(1, record_stride)
        self.energy_clients = energy_clients
        self._energy_index = np.full(clients, -1, dtype=np.int64)
        self._energy_index[energy_clients] = np.arange(energy_clients.size)
        self._activity_ids: list[npt.NDArray[np.int64]] = []
        self._activity_t: list[FloatArray] = []

    # --- feeding -------------------------------------------------------------------------------------

    def add_waits(self, waits: FloatArray, services: FloatArray) -> None:
        """Queue waits and service times of requests the server handled (arrivals inside the run)."""
        self.wait_sum += float(waits.sum())
        self.wait_n += int(waits.size)
        self.busy_s += float(services.sum())
        self._wait_samples.append(np.array(waits[:: self._wait_stride]))

    def add_deliveries(
        self,
        *,
        commit_s: FloatArray,
        received_s: FloatArray,
        client: npt.NDArray[np.int64],
        order: npt.NDArray[np.int64],
        seq: npt.NDArray[np.int64],
    ) -> None:
        """Messages the recipients now hold; latency = received - commit."""
        self._latencies.append(received_s - commit_s)
        keep = (seq % self._record_stride) == 0
        if np.any(keep):
            self._records.append(
                {
                    "client": client[keep],
                    "order_id": order[keep],
                    "seq": seq[keep],
                    "created_at": commit_s[keep],
                    "received_at": received_s[keep],
                }
            )
        self.add_activity(client, received_s)

    def add_activity(self, client: npt.NDArray[np.int64], time_s: FloatArray) -> None:
        """Network activity (send or receive) of clients; only the energy sample is kept."""
        idx = self._energy_index[client]
        mine = idx >= 0
        if np.any(mine):
            self._activity_ids.append(idx[mine])
            self._activity_t.append(np.asarray(time_s, dtype=np.float64)[mine])

    # --- results -------------------------------------------------------------------------------------

    def add_loop(self, *, scale: float, loop: LoopStats) -> None:
        """One server process's loop after its last job, running at `scale` (see :class:`LoopRecord`)."""
        self.loops.append(LoopRecord(scale=scale, exposure_s2=loop.exposure_s2, penalty_s=loop.penalty_s))

    def latencies(self) -> FloatArray:
        """Every delivery latency recorded, seconds."""
        return np.concatenate(self._latencies) if self._latencies else np.empty(0)

    def records(self, strategy: str) -> dict[str, npt.NDArray[Any]]:
        """Sampled per-message delivery records in the pollbench.results column layout."""
        cols = ("client", "order_id", "seq", "created_at", "received_at")
        out: dict[str, npt.NDArray[Any]] = {
            c: np.concatenate([r[c] for r in self._records]) if self._records else np.empty(0) for c in cols
        }
        out["latency_s"] = out["received_at"] - out["created_at"]
        out["strategy"] = np.full(out["seq"].size, strategy, dtype=object)
        return out

    def energy_j_per_client_hour(self, model: RadioModel) -> float:
        """Mean radio energy of the sampled clients, scaled to one hour."""
        n = int(self.energy_clients.size)
        if n == 0:
            return float("nan")
        ids = np.concatenate(self._activity_ids) if self._activity_ids else np.empty(0, dtype=np.int64)
        t = np.concatenate(self._activity_t) if self._activity_t else np.empty(0)
        keep = (t >= 0.0) & (t <= self.duration_s)
        joules = energy_joules_per_client(ids[keep], t[keep], n, self.duration_s, model)
        return float(joules.mean() * 3600.0 / self.duration_s)

    def result(self, *, is_push: bool, radio: RadioModel) -> StrategyResult:
        """The strategy's entry of summary.json."""
        lat = self.latencies()
        stats: LatencyStats = latency_stats(lat)
        waits = np.concatenate(self._wait_samples) if self._wait_samples else np.empty(0)
        minutes = self.duration_s / 60.0
        offered = self.busy_s / (self.duration_s * self.servers)
        open_connections = self.connection_s / (self.duration_s * self.servers)
        streams = min(self.stream_s, self.connection_s) / (self.duration_s * self.servers)
        extra = dict(self.extra)
        extra.update(
            {
                "offered_load": offered,
                "requests": self.requests,
                "server_jobs": self.wait_n,
                "polls": self.polls,
                "cold_start_busy_s": sum(loop.penalty_s for loop in self.loops),
                "streams": streams,
                "connection_memory_bytes": streams * self.memory_per_stream_bytes
                + (open_connections - streams) * self.memory_per_keepalive_bytes,
                "queue_wait_sampled_every": self._wait_stride,
                "deliveries_recorded_every": self._record_stride,
                "energy_sample_clients": int(self.energy_clients.size),
                "energy_note": "LTE RRC model (sim.energy) applied to the activity of a seeded client sample",
            }
        )
        return StrategyResult(
            latency_s=stats,
            requests_per_s=self.requests / self.duration_s,
            empty_poll_fraction=0.0 if is_push or self.polls == 0 else self.empty_polls / self.polls,
            bytes_per_client_per_min=self.bytes / self.clients / minutes,
            bytes_per_delivery=self.bytes / lat.size if lat.size else float("nan"),
            server_utilization=min(1.0, offered),
            queue_wait_s=QueueWait(
                mean=self.wait_sum / self.wait_n if self.wait_n else 0.0,
                p99=latency_stats(waits).p99 if waits.size else 0.0,
            ),
            open_connections=open_connections,
            energy_j_per_client_hour=self.energy_j_per_client_hour(radio),
            messages=MessageCounts(sent=self.sent, delivered=int(lat.size)),
            bytes_per_poll=None if is_push else (self.bytes / self.polls if self.polls else float("nan")),
            failures=self.failures,
            extra=extra,
        )
