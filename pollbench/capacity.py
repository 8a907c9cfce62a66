"""Capacity: the most clients one server process holds within an SLO (its knee), in one schema.

A knee search, simulated or measured, probes a client count and judges the probe against one
:class:`Slo`; it grows the count until a probe breaks the SLO, then bisects between the last good and the
first bad probe (:func:`search_knee`). Both searches describe what they found as :class:`Knee` objects in
one :class:`CapacityReport`, written to ``capacity.json`` (``capacity_schema: 2``) by
:func:`write_capacity` and read back by :func:`read_capacity`; :func:`servers_needed` turns clients per
process into processes for a user count. Nothing here does I/O beyond that one file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

from pollbench.results import to_jsonable
from pollbench.scenario import Scenario
from pollbench.strategies import Strategy

__all__ = [
    "CAPACITY_FILE",
    "CAPACITY_SCHEMA",
    "CPU_LIMITS",
    "CapacityError",
    "CapacityReport",
    "Knee",
    "KneeStep",
    "Limit",
    "Slo",
    "SearchOutcome",
    "full_core_clients",
    "knee_from_search",
    "probe_scenario",
    "read_capacity",
    "search_knee",
    "servers_needed",
    "with_full_core",
    "write_capacity",
]

CAPACITY_FILE = "capacity.json"
CAPACITY_SCHEMA = 2

Limit = Literal["latency", "utilization", "connections", "memory", "failures"]
"""What a probe can break: p99 delivery latency, the CPU busy fraction, the process's connection limit
(file descriptors), its memory budget, or the share of failed requests."""

CPU_LIMITS: frozenset[str] = frozenset({"latency", "utilization"})
"""Limits that move with the CPU a process gets (a knee bound only by these scales with its quota)."""

LATENCY_MARGIN_S = 2.0
"""Default p99 bound: the strategy's worst-case wait on an idle server plus this margin."""


class CapacityError(ValueError):
    """A capacity file that is missing, unreadable or not in schema 2; the message says which."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Slo:
    """What one server process must deliver, for every strategy and for both searches."""

    p99_s: float | None = None
    """Largest p99 delivery latency, seconds; None: per strategy, its worst-case idle wait + 2 s
    (poll:3 -> 5 s, adaptive -> 32 s, long-poll, SSE and WebSocket -> 2 s)."""
    utilization: float = 0.95
    """Largest busy fraction of the CPU the process may use (its quota, or a whole core): 0.95 means "not
    saturated". Not lower by default: a lightly loaded process pays a cold-start penalty per request
    (``sim.calibration.ColdStart``), so its busy fraction overstates its load (measured here: poll:3 at
    0.2 of a core was 76 % busy at 1 000 clients and 100 % at 2 000, with p99 still 3.1 s)."""
    fail_ratio: float = 0.01
    """Largest share of failed requests."""
    connections: int | None = None
    """Most open connections; None: the server's own limit (its file descriptors less its own)."""
    memory_bytes: int = 2 * 1024**3
    """Largest resident memory of the server process."""

    def __post_init__(self) -> None:
        if self.p99_s is not None and not (math.isfinite(self.p99_s) and self.p99_s > 0):
            raise ValueError(f"p99 SLO must be a positive number of seconds, got {self.p99_s!r}")
        if not (0 < self.utilization <= 1):
            raise ValueError(f"utilization SLO must be in (0, 1], got {self.utilization!r}")
        if not (0 <= self.fail_ratio <= 1):
            raise ValueError(f"failure-ratio SLO must be within 0..1, got {self.fail_ratio!r}")
        if self.connections is not None and self.connections < 1:
            raise ValueError(f"connection limit must be at least 1, got {self.connections!r}")
        if self.memory_bytes <= 0:
            raise ValueError(f"memory budget must be positive, got {self.memory_bytes!r}")

    def p99_for(self, strategy: Strategy) -> float:
        """The p99 bound for `strategy`."""
        return self.p99_s if self.p99_s is not None else strategy.worst_wait_s + LATENCY_MARGIN_S

    def judge(
        self,
        strategy: Strategy,
        *,
        p99_s: float,
        messages: int,
        utilization: float,
        fail_ratio: float,
        open_connections: float,
        connection_limit: int,
        rss_bytes: float,
    ) -> tuple[Limit, ...]:
        """The limits a probe broke (empty: within the SLO). A probe that delivered no message breaks the
        latency bound; an unknown utilization (NaN) breaks the utilization bound, never passes it."""
        broken: list[Limit] = []
        if messages == 0 or not p99_s <= self.p99_for(strategy):
            broken.append("latency")
        if not utilization <= self.utilization:
            broken.append("utilization")
        if open_connections >= min(self.connections or connection_limit, connection_limit):
            broken.append("connections")
        if rss_bytes > self.memory_bytes:
            broken.append("memory")
        if not fail_ratio <= self.fail_ratio:
            broken.append("failures")
        return tuple(broken)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Slo:
        return cls(**{k: data[k] for k in ("p99_s", "utilization", "fail_ratio", "connections",
                                           "memory_bytes") if k in data})  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class KneeStep:
    """One probe of a knee search: a client count and what the process did with it."""

    clients: int
    """Receiving clients on the process."""
    p50_s: float
    """Median delivery latency of the messages judged, seconds."""
    p99_s: float
    """99th percentile of the same (a message still missing counts with the time it has waited)."""
    server_utilization: float
    """Busy fraction of the CPU the process may use (its quota), NaN when unknown."""
    open_connections: float
    """Most connections the process held during the probe."""
    rss_bytes: float
    """Resident memory of the process (simulated: baseline plus connection memory)."""
    fail_ratio: float
    """Share of failed requests."""
    ok: bool
    """True when the probe met the SLO."""
    limited_by: tuple[Limit, ...] = ()
    """The limits it broke (empty when ok)."""
    messages: int = 0
    """Messages behind the latency figures."""
    conclusive: bool = True
    """False when the probe cannot judge the server (the load generator was saturated): the search stops."""
    detail: dict[str, Any] = field(default_factory=dict)
    """Source-specific figures (window, requests, load-generator CPU, offered load...)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Knee:
    """The knee of one strategy: the largest client count that met the SLO, and what broke just above."""

    strategy: str
    """Canonical strategy spec."""
    source: Literal["sim", "measured"]
    """Who searched: the simulator or a real load test."""
    max_clients: int
    """Largest probe within the SLO (0: even the smallest broke it)."""
    limited_by: tuple[Limit, ...]
    """Limits broken by the smallest failing probe above max_clients (empty at a ceiling)."""
    ceiling: bool
    """True when no probe failed: the knee lies above max_clients (see note)."""
    server_cpu_quota: float | None
    """CPU quota the process ran under (share of one core); None: a whole core."""
    steps: tuple[KneeStep, ...]
    """Every probe, in the order run."""
    scaled_to_full_core: bool = False
    """True when full_core_clients was scaled from a knee measured under a quota."""
    full_core_clients: int | None = None
    """Clients per process on a whole core (the knee itself when it ran on one); None: unknown."""
    full_core_limit: str = ""
    """What binds on a whole core: a Limit, or '' when unknown."""
    note: str = ""
    """Why the search stopped where it did, in a sentence."""

    @property
    def probes(self) -> int:
        return len(self.steps)


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacityReport:
    """The contents of ``capacity.json``: knees of one workload, one SLO, one machine."""

    source: Literal["sim", "measured"]
    workload: str
    """Name of the workload the knees are for (a preset such as seed-chat, or a scenario file)."""
    scenario: dict[str, Any]
    """Every input of the search's scenario (clients vary per probe)."""
    slo: Slo
    knees: tuple[Knee, ...]
    machine: dict[str, Any] = field(default_factory=dict)
    capacity_schema: int = CAPACITY_SCHEMA

    def knee(self, strategy: str) -> Knee | None:
        return next((k for k in self.knees if k.strategy == strategy), None)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["slo"] = self.slo.to_dict()
        return d


# --- the search -------------------------------------------------------------------------------------


Probe = Callable[[int], KneeStep]
"""Runs (or simulates) the given client count and returns the judged step."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchOutcome:
    """What :func:`search_knee` found."""

    max_clients: int
    limited_by: tuple[Limit, ...]
    ceiling: bool
    steps: tuple[KneeStep, ...]
    note: str


def search_knee(
    probe: Probe,
    *,
    start: int,
    ceiling: int,
    growth: float = 2.0,
    tolerance: float = 0.1,
    floor: int = 1,
) -> SearchOutcome:
    """Grow from `start` by `growth` until a probe breaks the SLO (or `ceiling` passes), then bisect between
    the last good and the first bad count until they are within `tolerance` of the good one.

    A first probe that already fails steps down by `growth` until one passes or `floor` fails too. An
    inconclusive probe (the load generator, not the server, was the limit) ends the search at a ceiling.
    """
    if not (1 <= floor <= start <= ceiling) or growth <= 1 or not 0 < tolerance < 1:
        raise ValueError(f"bad search bounds: floor {floor}, start {start}, ceiling {ceiling}, "
                         f"growth {growth}, tolerance {tolerance}")  # fmt: skip
    steps: list[KneeStep] = []
    good: KneeStep | None = None
    bad: KneeStep | None = None

    def run(n: int) -> KneeStep:
        step = probe(n)
        steps.append(step)
        return step

    n = start
    while True:
        step = run(n)
        if not step.conclusive:
            return _outcome(steps, good, None, f"the load generator saturated at {n:,} clients: "
                            "the knee is above the last good probe")  # fmt: skip
        if step.ok:
            good = step
            if bad is not None or n >= ceiling:
                break
            n = min(ceiling, max(n + 1, math.ceil(n * growth)))
        else:
            bad = step
            if good is not None:
                break
            if n <= floor:
                return _outcome(steps, None, bad, f"even {n:,} client(s) broke the SLO")
            n = max(floor, int(n / growth))
    if bad is None:
        return _outcome(steps, good, None, f"search ceiling of {ceiling:,} clients reached within the SLO")
    assert good is not None
    while bad.clients - good.clients > max(1, tolerance * good.clients):
        step = run((good.clients + bad.clients) // 2)
        if not step.conclusive:
            return _outcome(steps, good, bad, "the load generator saturated while bisecting")
        if step.ok:
            good = step
        else:
            bad = step
    return _outcome(steps, good, bad, f"bisected to within {tolerance:.0%}")


def _outcome(steps: list[KneeStep], good: KneeStep | None, bad: KneeStep | None, note: str) -> SearchOutcome:
    return SearchOutcome(
        max_clients=good.clients if good is not None else 0,
        limited_by=bad.limited_by if bad is not None else (),
        ceiling=bad is None,
        steps=tuple(steps),
        note=note,
    )


# --- the probes' workload ----------------------------------------------------------------------------

MIN_MESSAGE_RATE = 10.0
"""Messages per second a probe carries at least, whatever the workload's own rate: a quiet workload (the
order chat has a message per order per hour) leaves a 20 s window with a handful of latency samples, and a
p99 of fewer than ~200 is decided by a single slow message."""


def probe_scenario(
    workload: Scenario, clients: int, *, min_message_rate: float = MIN_MESSAGE_RATE
) -> Scenario:
    """The scenario one probe of a knee search runs, measured and simulated alike: `clients` customers of the
    workload on one process, no admins (a knee counts customers), every message received by its order's
    customer, Poisson messages at the workload's mean rate or `min_message_rate` in all if that is higher
    (the load test's senders do the same)."""
    orders = clients * workload.orders_per_client
    interval = min(workload.message_interval, orders / min_message_rate) if min_message_rate > 0 else None
    return workload.override(
        clients=clients,
        server_processes=1,
        admins=0,
        audience="order",
        arrivals="poisson",
        message_interval=interval,
    )


# --- planning ---------------------------------------------------------------------------------------


def servers_needed(users: int, clients_per_process: float) -> int | None:
    """Processes needed for `users` clients; None when the knee is unknown or zero."""
    if not (math.isfinite(clients_per_process) and clients_per_process > 0):
        return None
    return max(1, math.ceil(users / clients_per_process))


def full_core_clients(
    knee: Knee, *, connection_limit: int, memory_budget_bytes: float
) -> tuple[int | None, str, bool]:
    """(clients on a whole core, the limit that binds there, scaled?) for a knee found at its quota.

    A knee bound by CPU (latency or utilization) under a quota Q scales to max_clients / Q, which is only
    honest where quota scaling was shown linear (docs/benchmarks.md); it is then capped by the connections
    and memory a whole core does not add (per client as the knee's last good probe held them). A knee bound
    by connections or memory, or found on a whole core, is what it is.
    """
    q = knee.server_cpu_quota
    if knee.max_clients <= 0:
        return None, "", False
    if q is None or q >= 1:
        return knee.max_clients, knee.limited_by[0] if knee.limited_by else "", False
    if knee.ceiling or not knee.limited_by:
        return None, "", False  # no knee under the quota: nothing to scale
    if not set(knee.limited_by) <= CPU_LIMITS:
        other = [x for x in knee.limited_by if x not in CPU_LIMITS]
        if other == ["failures"]:
            return None, "", False  # failures under a quota may be CPU's or not: unknown on a whole core
        return knee.max_clients, next(x for x in other if x != "failures"), False
    last = next(s for s in reversed(knee.steps) if s.ok and s.clients == knee.max_clients)
    caps: dict[str, float] = {"utilization": knee.max_clients / q}
    per_client_conns = last.open_connections / last.clients
    if per_client_conns > 0:
        caps["connections"] = connection_limit / per_client_conns
    baseline = float(last.detail.get("baseline_rss_bytes", 0.0))
    per_client_mem = (last.rss_bytes - baseline) / last.clients
    if per_client_mem > 0:
        caps["memory"] = (memory_budget_bytes - baseline) / per_client_mem
    binding = min(caps, key=lambda k: caps[k])
    return int(caps[binding]), binding, binding == "utilization"


# --- the file ---------------------------------------------------------------------------------------


def write_capacity(directory: str | Path, report: CapacityReport) -> Path:
    """Write ``capacity.json`` into `directory` (created); the only writer of the schema."""
    target = Path(directory) / CAPACITY_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_jsonable(report.to_dict()), indent=2, allow_nan=False) + "\n"
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return target


def read_capacity(path: str | Path) -> CapacityReport:
    """``capacity.json`` (or the file in a directory) as a :class:`CapacityReport`; the only reader."""
    p = Path(path)
    if p.is_dir():
        p = p / CAPACITY_FILE
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CapacityError(f"{p}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CapacityError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("capacity_schema") != CAPACITY_SCHEMA:
        found = doc.get("capacity_schema") if isinstance(doc, dict) else None
        raise CapacityError(f"{p}: capacity_schema {found!r}, expected {CAPACITY_SCHEMA}; "
                            "re-run the capacity search with this version of pollbench")  # fmt: skip
    try:
        return CapacityReport(
            source=_source(doc["source"]),
            workload=str(doc["workload"]),
            scenario=dict(doc["scenario"]),
            slo=Slo.from_dict(doc["slo"]),
            knees=tuple(_knee(k) for k in doc["knees"]),
            machine=dict(doc.get("machine") or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CapacityError(f"{p}: not a capacity report ({type(exc).__name__}: {exc})") from None


def _source(value: Any) -> Literal["sim", "measured"]:
    if value not in ("sim", "measured"):
        raise ValueError(f"source must be 'sim' or 'measured', got {value!r}")
    return "sim" if value == "sim" else "measured"


def _limits(values: Sequence[Any]) -> tuple[Limit, ...]:
    allowed = get_args(Limit)
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValueError(f"unknown limit(s) {bad}; valid: {', '.join(allowed)}")
    return tuple(values)


def _num(x: Any) -> float:
    return math.nan if x is None else float(x)


def _step(d: Mapping[str, Any]) -> KneeStep:
    return KneeStep(
        clients=int(d["clients"]),
        p50_s=_num(d["p50_s"]),
        p99_s=_num(d["p99_s"]),
        server_utilization=_num(d["server_utilization"]),
        open_connections=_num(d["open_connections"]),
        rss_bytes=_num(d["rss_bytes"]),
        fail_ratio=_num(d["fail_ratio"]),
        ok=bool(d["ok"]),
        limited_by=_limits(d.get("limited_by", ())),
        messages=int(d.get("messages", 0)),
        conclusive=bool(d.get("conclusive", True)),
        detail=dict(d.get("detail") or {}),
    )


def _knee(d: Mapping[str, Any]) -> Knee:
    quota = d.get("server_cpu_quota")
    full = d.get("full_core_clients")
    return Knee(
        strategy=str(d["strategy"]),
        source=_source(d["source"]),
        max_clients=int(d["max_clients"]),
        limited_by=_limits(d["limited_by"]),
        ceiling=bool(d["ceiling"]),
        server_cpu_quota=None if quota is None else float(quota),
        steps=tuple(_step(s) for s in d["steps"]),
        scaled_to_full_core=bool(d.get("scaled_to_full_core", False)),
        full_core_clients=None if full is None else int(full),
        full_core_limit=str(d.get("full_core_limit", "")),
        note=str(d.get("note", "")),
    )


def knee_from_search(
    outcome: SearchOutcome,
    *,
    strategy: str,
    source: Literal["sim", "measured"],
    server_cpu_quota: float | None,
) -> Knee:
    """The :class:`Knee` of a finished search (full-core figures filled in later by the caller)."""
    return Knee(
        strategy=strategy,
        source=source,
        max_clients=outcome.max_clients,
        limited_by=outcome.limited_by,
        ceiling=outcome.ceiling,
        server_cpu_quota=server_cpu_quota,
        steps=outcome.steps,
        note=outcome.note,
    )


def with_full_core(knee: Knee, *, connection_limit: int, memory_budget_bytes: float) -> Knee:
    """`knee` with its whole-core figures (:func:`full_core_clients`) filled in."""
    clients, limit, scaled = full_core_clients(
        knee, connection_limit=connection_limit, memory_budget_bytes=memory_budget_bytes
    )
    return replace(knee, full_core_clients=clients, full_core_limit=limit, scaled_to_full_core=scaled)
