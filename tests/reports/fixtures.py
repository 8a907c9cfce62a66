"""Fixture results directories for report and check tests.

Written with pollbench.results' own writers from seeded synthetic deliveries, so the report code is exercised
on exactly the files the simulator and the load tests produce. The figures are plausible (a poll:T client
waits U(0, T) plus a round trip; push waits about a round trip) but they are test data, not results.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pollbench.results import (
    MessageCounts,
    QueueWait,
    StrategyResult,
    Summary,
    latency_stats,
    machine_info,
    write_deliveries,
    write_summary,
)
from reports.capacity import write_capacity

STRATEGIES = ("poll:3", "poll:10", "seed-dashboard:3", "longpoll", "sse")
_INTERVAL = {"poll:3": 3.0, "poll:10": 10.0, "seed-dashboard:3": 3.0}
_ORDERS = 3


def _latencies(strategy: str, rng: np.random.Generator, n: int) -> np.ndarray:
    rtt = rng.lognormal(np.log(0.05), 0.5, n)
    if strategy in _INTERVAL:
        return rng.uniform(0, _INTERVAL[strategy], n) + rtt
    return rtt * (1.5 if strategy == "longpoll" else 0.6) + 0.002


def _requests_per_s(strategy: str, clients: int) -> float:
    if strategy == "seed-dashboard:3":
        return clients / 3.0 * (1 + _ORDERS)
    if strategy in _INTERVAL:
        return clients / _INTERVAL[strategy] * 1.05
    if strategy == "longpoll":
        return clients * _ORDERS / 30.0 + 0.5
    return 0.02 * clients


def _result(strategy: str, lat: np.ndarray, clients: int, scale: dict[str, float]) -> StrategyResult:
    rps = _requests_per_s(strategy, clients) * scale.get("requests_per_s", 1.0)
    poll = strategy in _INTERVAL
    bpp = (
        (2300.0 if strategy.startswith("seed") else 420.0) * scale.get("bytes_per_poll", 1.0)
        if poll
        else None
    )
    per_request = bpp if bpp is not None else 180.0
    util = rps * 0.0004
    return StrategyResult(
        latency_s=latency_stats(lat),
        requests_per_s=rps,
        empty_poll_fraction=0.95 if poll else 0.0,
        bytes_per_client_per_min=rps / clients * 60 * per_request,
        bytes_per_delivery=rps * per_request / max(lat.size, 1),
        server_utilization=util,
        queue_wait_s=QueueWait(mean=0.0005, p99=0.004),
        open_connections=float(clients if not poll else clients * 0.1),
        energy_j_per_client_hour=(rps / clients) * 3600 * 9.0 + 5.0,
        messages=MessageCounts(sent=lat.size, delivered=lat.size),
        bytes_per_poll=bpp,
    )


def make_results(
    directory: Path,
    *,
    source: str = "sim",
    seed: int = 1,
    clients: int = 500,
    strategies: tuple[str, ...] = STRATEGIES,
    deliveries: int = 1500,
    latency_scale: float = 1.0,
    scale: dict[str, float] | None = None,
    calibration_s: float | None = None,
    capacity: bool = False,
) -> Path:
    """Write summary.json + deliveries.parquet (and capacity.json when asked) into `directory`."""
    rng = np.random.default_rng(seed)
    scale = scale or {}
    columns: dict[str, list] = {
        c: [] for c in ("strategy", "client", "order_id", "seq", "created_at", "received_at", "latency_s")
    }
    results: dict[str, StrategyResult] = {}
    for strategy in strategies:
        lat = _latencies(strategy, rng, deliveries) * latency_scale
        created = np.sort(rng.uniform(0, 600, deliveries))
        columns["strategy"] += [strategy] * deliveries
        columns["client"] += rng.integers(0, clients, deliveries).tolist()
        columns["order_id"] += rng.integers(0, clients * _ORDERS, deliveries).tolist()
        columns["seq"] += list(range(deliveries))
        columns["created_at"] += created.tolist()
        columns["received_at"] += (created + lat).tolist()
        columns["latency_s"] += lat.tolist()
        results[strategy] = _result(strategy, lat, clients, scale)
    machine = machine_info()
    if calibration_s is not None:
        machine["calibration_s"] = calibration_s
    summary = Summary(
        source=source,  # type: ignore[arg-type]
        scenario={"clients": clients, "orders_per_client": _ORDERS, "server_processes": 1, "duration": 600.0},
        strategies=results,
        seed=seed,
        version="test",
        machine=machine,
    )
    write_summary(directory, summary)
    write_deliveries(directory, columns)
    if capacity:
        write_capacity(directory, [_capacity_curve("poll:3", 3.0), _capacity_curve("sse", 3.0)])
    return directory


def _capacity_curve(strategy: str, slo: float) -> dict:
    """A capacity search that passes four steps and breaks the SLO at the fifth."""
    steps = []
    for i, clients in enumerate((200, 400, 800, 1600, 3200)):
        ok = i < 4
        steps.append(
            {
                "clients": clients * (1 if strategy.startswith("poll") else 4),
                "p99_s": 2.0 + 0.1 * i if ok else 6.0,
                "utilization": 0.1 * (i + 1) if ok else 0.99,
                "fail_ratio": 0.0 if ok else 0.03,
                "ok": ok,
            }
        )
    return {"strategy": strategy, "server_processes": 1, "slo_p99_s": slo, "steps": steps}
