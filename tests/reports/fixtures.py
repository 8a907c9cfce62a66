"""Fixture results directories for report and check tests.

Written with pollbench's own writers (results, and knees found by pollbench.capacity.search_knee over a
synthetic probe, written by write_capacity) from seeded synthetic data, so the report code is exercised on
exactly the files the simulator, the load tests and the knee searches produce. The figures are plausible (a
poll:T client waits U(0, T) plus a round trip; push waits about a round trip) but they are test data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pollbench.capacity import (
    CapacityReport,
    Knee,
    KneeStep,
    Slo,
    knee_from_search,
    search_knee,
    with_full_core,
    write_capacity,
)
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
from pollbench.workload import AGREEMENT_WORKLOAD, tag_summary

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
    workload: str | None = None,
) -> Path:
    """Write summary.json + deliveries.parquet into `directory` (tagged with `workload` when given)."""
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
    write_summary(directory, summary if workload is None else tag_summary(summary, workload))
    write_deliveries(directory, columns)
    return directory


BASELINE_RSS = 100e6
CONNECTION_LIMIT = 10_000


def synthetic_probe(knee: int, *, conns_per_client: float = 1.0, sim_ratio: float | None = None):
    """A probe whose CPU grows linearly with clients to 80 % busy at `knee` and breaks the SLO above it.

    With `sim_ratio`, every probe carries what a simulator said of it (``detail["sim"]``): the measured
    utilization times `sim_ratio`.
    """

    def probe(n: int) -> KneeStep:
        ok = n <= knee
        util = 0.8 * n / knee if ok else 0.97
        detail: dict = {"baseline_rss_bytes": BASELINE_RSS}
        if sim_ratio is not None:
            detail["sim"] = {
                "server_utilization": util * sim_ratio,
                "p99_s": 1.0,
                "open_connections": n * conns_per_client,
            }
        return KneeStep(
            clients=n,
            p50_s=0.5,
            p99_s=1.0 + n / knee if ok else 9.0,
            server_utilization=util,
            open_connections=n * conns_per_client,
            rss_bytes=BASELINE_RSS + n * 20_000,
            fail_ratio=0.0,
            ok=ok,
            limited_by=() if ok else ("utilization",),
            messages=200,
            detail=detail,
        )

    return probe


def found_knee(
    strategy: str,
    knee: int,
    *,
    source: str,
    quota: float | None,
    conns_per_client: float = 1.0,
    sim_ratio: float | None = None,
) -> Knee:
    """The Knee a search over synthetic_probe(knee) finds, with its whole-core figures filled in."""
    outcome = search_knee(
        synthetic_probe(knee, conns_per_client=conns_per_client, sim_ratio=sim_ratio),
        start=max(1, knee // 8),
        ceiling=100_000,
        tolerance=0.05,
    )
    found = knee_from_search(outcome, strategy=strategy, source=source, server_cpu_quota=quota)  # type: ignore[arg-type]
    return with_full_core(found, connection_limit=CONNECTION_LIMIT, memory_budget_bytes=2e9)


def write_knees(directory: Path, source: str, knees: list[Knee], workload: str = "seed-chat") -> Path:
    """capacity.json holding `knees`, written by pollbench.capacity.write_capacity."""
    report = CapacityReport(
        source=source,  # type: ignore[arg-type]
        workload=workload,
        scenario={"clients": 1, "orders_per_client": 2},
        slo=Slo(),
        knees=tuple(knees),
        machine={"cpus": 2, "connection_limit": CONNECTION_LIMIT},
    )
    return write_capacity(directory, report)


MEASURED_KNEES = {"poll:3": 1000, "seed-dashboard:3": 300, "sse": 2600}
"""Knees at a 0.2 CPU quota, all CPU-bound there. On a whole core poll:3 (5 000) and seed-dashboard:3 (1 500)
stay CPU-bound; SSE, one connection per client, runs out of the 10 000 connections before its CPU (13 000)."""


def make_comparison(root: Path, *, plan_scale: dict[str, float] | None = None) -> Path:
    """A comparison directory as ``pollbench compare --knees`` writes it: sim/ and measured/ (agreement load),
    plan/ (seed-chat simulated), knees/measured and knees/sim (knees of seed-chat at Q = 0.2, and
    simulated on a whole core)."""
    make_results(root / "sim", source="sim", seed=1, workload=AGREEMENT_WORKLOAD)
    make_results(root / "measured", source="measured", seed=2, calibration_s=1.0, workload=AGREEMENT_WORKLOAD)
    make_results(root / "plan", source="sim", seed=3, clients=10_000, workload="seed-chat", scale=plan_scale)
    measured = [
        found_knee(
            s, n, source="measured", quota=0.2, conns_per_client=1.0 if s == "sse" else 0.1, sim_ratio=1.04
        )
        for s, n in MEASURED_KNEES.items()
    ]
    sim = [
        found_knee(s, n, source="sim", quota=0.2, conns_per_client=1.0 if s == "sse" else 0.1)
        for s, n in MEASURED_KNEES.items()
    ] + [found_knee("poll:3", 5100, source="sim", quota=None, conns_per_client=0.1)]
    write_knees(root / "knees" / "measured", "measured", measured)
    write_knees(root / "knees" / "sim", "sim", sim)
    return root
