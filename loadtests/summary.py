"""From a merged run to pollbench's one results schema (``source = "measured"``).

The simulator and the load test fill the same :class:`pollbench.results.StrategyResult`. A few fields
are not measurable from outside the server and are NaN here, on purpose and documented:

- ``queue_wait_s`` — time requests wait for the server's event loop (only the simulator sees it);
- ``energy_j_per_client_hour`` — the radio energy model runs in the simulator only.

Wire bytes are the receiving clients' (requests, responses, SSE/WebSocket frames, handshakes), not the
senders': senders post the same messages whatever the strategy, so their cost is in ``extra``.
"""

from __future__ import annotations

import math
from typing import Any

from loadtests.merge import MergedRun
from loadtests.recorder import Traffic
from pollbench.results import MessageCounts, QueueWait, StrategyResult, latency_stats
from pollbench.strategies import Strategy

__all__ = ["fail_ratio", "strategy_result"]

NAN = float("nan")


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else NAN


def _traffic(t: Traffic) -> dict[str, Any]:
    return {name: getattr(t, name) for name in t.__dataclass_fields__}


def fail_ratio(run: MergedRun) -> float:
    """Failed requests over all requests of receivers and senders (0 when there were none)."""
    requests = run.receivers.requests + run.senders.requests
    failures = run.receivers.failures + run.senders.failures
    return failures / requests if requests else 0.0


def strategy_result(
    strategy: Strategy, run: MergedRun, server: dict[str, Any], **extra: Any
) -> StrategyResult:
    """The measured StrategyResult of one strategy's run."""
    r = run.receivers
    wire = r.bytes_sent + r.bytes_received
    delivered = len(run.deliveries)
    polls = r.polls
    # Steady rate at the full population: requests per receiver-second times the receivers, counted in the
    # window while the senders post (Recorder.mark_steady). The ramp-up is covered by counting per active
    # receiver-second; the drain after it (no news, pollers find nothing) is left out because it is not the
    # load the scenario describes. Each receiver's page load (GET /api/orders before it polls or connects)
    # and an SSE/WebSocket receiver's first connect are one-offs (Traffic.setup_requests), left out as the
    # simulator leaves them out; reconnects stay in. Runs without the snapshot fall back to the whole run.
    traffic, active_s = r, run.client_minutes * 60.0
    if run.steady is not None and run.steady_client_s > 0:
        traffic, active_s = run.steady, run.steady_client_s
    steady_requests = max(0, traffic.requests - traffic.setup_requests)
    steady_polls = traffic.polls
    # Latency of the messages committed in the steady window, for the same reason: in the first interval
    # clients are still starting (an adaptive client that found nothing has already backed off).
    latencies = run.deliveries
    if run.warm_at is not None and run.steady is not None:
        latencies = latencies[latencies["created_at"] >= run.warm_at]
    return StrategyResult(
        latency_s=latency_stats(latencies["latency_s"].to_numpy()),
        requests_per_s=_ratio(steady_requests * run.clients, active_s),
        empty_poll_fraction=0.0 if strategy.is_push else _ratio(r.empty_polls, polls),
        bytes_per_client_per_min=_ratio(wire, run.client_minutes),
        bytes_per_delivery=_ratio(wire, delivered),
        server_utilization=float(server.get("utilization", NAN)),
        queue_wait_s=QueueWait(mean=NAN, p99=NAN),
        open_connections=float(server.get("open_connections_mean", NAN)),
        energy_j_per_client_hour=NAN,
        messages=MessageCounts(sent=run.expected, delivered=delivered),
        bytes_per_poll=None if strategy.is_push else _ratio(traffic.poll_bytes, steady_polls),
        failures=r.failures + run.senders.failures,
        extra={
            "clients": run.clients,
            "client_minutes": run.client_minutes,
            "wall_seconds": run.wall_seconds,
            "requests_per_wall_s": _ratio(r.requests, run.wall_seconds),
            "rates_window": "sending" if traffic is not r else "whole run",
            "latency_window": "after warm-up" if len(latencies) < delivered else "whole run",
            "deliveries_in_latency": len(latencies),
            "locust_processes": run.processes,
            "messages_posted": run.messages_posted,
            "gaps": run.gaps,
            "duplicates": run.duplicates,
            "fail_ratio": fail_ratio(run),
            "wire_bytes": wire,
            "body_bytes": r.body_bytes,
            "receivers": _traffic(r),
            "senders": _traffic(run.senders),
            "server": {
                k: (v if not (isinstance(v, float) and math.isnan(v)) else None) for k, v in server.items()
            },
            "not_measured": ["queue_wait_s", "energy_j_per_client_hour"],
            **extra,
        },
    )
