"""Overload protection for long-lived connections: a cap at the door and a count of who was turned away or
cut off.

A push server's scarce resources are held by its *long-lived* connections: every open SSE stream,
WebSocket and parked long-poll pins a file descriptor, a task and its buffers for as long as the client
stays. The ``PushGate`` counts exactly those against ``ServerConfig.max_connections``. Past the cap a new
one is refused with ``503 {"error": "overloaded"}`` and ``Retry-After`` while the connections already open
keep being served; a plain request (a poll, a POST) is never counted or refused, because it ends by itself
within milliseconds and refusing polls would turn overload into data loss for the seed's dashboards.

The gate also counts the consumers that were disconnected for not reading (their bounded queue filled, see
``pubsub.py``): together with the rejections that is the server's overload story in ``/metrics``.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge

from reference_server.errors import ApiError

__all__ = ["GATE", "RETRY_AFTER_S", "Kind", "PushGate"]

Kind = Literal["sse", "ws", "longpoll"]
KINDS: tuple[Kind, ...] = ("sse", "ws", "longpoll")

RETRY_AFTER_S = 5
"""Seconds a refused client is asked to wait. Long enough that a refused crowd does not come straight back
into a full server; clients add their own full-jitter backoff on top (``pollbench.reconnect``)."""


class PushGate:
    """Admits long-lived connections up to a cap (0 = no cap) and counts refusals and slow-consumer drops."""

    __slots__ = ("_dropped", "_in_use", "_rejected", "in_use", "limit")

    def __init__(self, limit: int, registry: CollectorRegistry) -> None:
        self.limit = limit
        self.in_use = 0
        self._rejected = Counter(
            "pollbench_rejected_connections",
            "Long-lived connections refused with 503 because the connection cap was reached",
            ("kind",),
            registry=registry,
        )
        self._dropped = Counter(
            "pollbench_dropped_slow_consumers",
            "Push connections cut off because the client stopped reading and its queue filled",
            ("kind",),
            registry=registry,
        )
        self._in_use = Gauge(
            "pollbench_capped_connections",
            "Long-lived connections counted against the cap (SSE + WebSocket + parked long-polls)",
            registry=registry,
        )
        limit_gauge = Gauge(
            "pollbench_connection_limit", "The connection cap (0 = unlimited)", registry=registry
        )
        limit_gauge.set(limit)
        for kind in KINDS:  # series exist from the start, so a baseline scrape reads 0
            self._rejected.labels(kind)
        for kind in KINDS[:2]:
            self._dropped.labels(kind)

    def enter(self, kind: Kind) -> None:
        """Count one more long-lived connection, or raise the 503 ``overloaded`` error if the cap is full.

        Every successful ``enter`` must be paired with exactly one ``leave`` (in a ``finally``).
        """
        if self.limit and self.in_use >= self.limit:
            self._rejected.labels(kind).inc()
            raise ApiError(
                503,
                "overloaded",
                f"The server holds its maximum of {self.limit} push connections; "
                f"retry in {RETRY_AFTER_S} s (or poll meanwhile).",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        self.in_use += 1
        self._in_use.inc()

    def leave(self) -> None:
        """A counted connection ended."""
        self.in_use -= 1
        self._in_use.dec()

    def dropped(self, kind: Kind) -> None:
        """A push consumer was cut off for falling ``push_queue_max`` messages behind."""
        self._dropped.labels(kind).inc()


GATE = web.AppKey("pollbench_push_gate", PushGate)
"""The app's gate (kept apart from ``ServerState`` because only the long-lived handlers use it)."""
