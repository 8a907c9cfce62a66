"""Scenario: the one description of a workload that drives both the simulation and the load test.

A scenario file is TOML with flat keys named as the fields of :class:`Scenario`, e.g.::

    clients = 1000
    orders_per_client = 3
    arrivals = "poisson"
    message_interval = 60      # mean seconds between messages per order
    duration = "1h"
    strategies = ["poll:3", "sse"]

Command-line flags override the file (:meth:`Scenario.override`). Unknown keys and bad values are errors
that name the key and what is allowed, never silently ignored.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from pollbench.strategies import ALL_SPECS, StrategyError, parse_strategies

__all__ = [
    "Arrivals",
    "Audience",
    "Scenario",
    "ScenarioError",
    "check_cpu_quota",
    "load_scenario",
    "parse_duration",
]

Arrivals = Literal["poisson", "periodic", "bursty"]
Audience = Literal["other-party", "order"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|min|h)?\s*$", re.IGNORECASE)
_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


class ScenarioError(ValueError):
    """A scenario file or flag value that cannot be used; the message names the key and the problem."""


def parse_duration(value: str | float | int) -> float:
    """Seconds from ``3600``, ``"90s"``, ``"5m"``, ``"1h"`` or ``"250ms"``; positive and finite."""
    if isinstance(value, bool):
        raise ScenarioError(f"duration must be a number of seconds or like '90s', '5m', '1h', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        m = _DURATION.match(value)
        if not m:
            raise ScenarioError(
                f"duration must be a number of seconds or like '90s', '5m', '1h', got {value!r}"
            )
        unit = m.group(2).lower() if m.group(2) else None
        seconds = float(m.group(1)) * _UNITS[unit]
    if not math.isfinite(seconds) or seconds <= 0:
        raise ScenarioError(f"duration must be positive, got {value!r}")
    return seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """Every input of a run. Defaults describe the seed's order chat at a modest scale."""

    clients: int = 1000
    """Receiving clients (customers), each watching its own orders."""
    orders_per_client: int = 3
    """Orders per customer; each order is one conversation with the shop's admins."""
    admins: int = 1
    """Admin users (the seed's admin panel watches all orders)."""
    arrivals: Arrivals = "poisson"
    """Message arrival process per order: poisson, periodic or bursty."""
    message_interval: float = 60.0
    """Mean seconds between messages in one order."""
    duration: float = 3600.0
    """Simulated or measured seconds."""
    rtt_ms: float = 50.0
    """Median client round-trip time, milliseconds (lognormal across clients)."""
    rtt_sigma: float = 0.5
    """Shape (sigma of the log) of the per-client RTT lognormal."""
    server_processes: int = 1
    """Server processes (event loops); clients are assigned to one at connect."""
    server_cpu_quota: float | None = None
    """Share of one core each server process may use (a CPU-quota cgroup, 0 < Q <= 1); None: a whole core."""
    service_time_ms: float | None = None
    """When set, every request takes exactly this long on the server (what-if and validation)."""
    hidden_fraction: float = 0.0
    """Share of time an adaptive client's tab is hidden (browsers throttle its timers)."""
    message_bytes: int = 200
    """Mean size of one message's JSON, bytes."""
    seed: int = 1
    """Seed of every random stream; equal seeds give equal results."""
    strategies: tuple[str, ...] = ALL_SPECS
    """Strategy specs to run (see pollbench.strategies)."""
    calibration: str | None = None
    """Path of a calibration JSON for the simulator's server and wire constants."""
    burst_messages: float = 5.0
    """Bursty arrivals: mean messages per conversation (geometric, back-and-forth)."""
    burst_gap: float = 20.0
    """Bursty arrivals: mean seconds between messages inside a conversation (exponential)."""
    conversation_messages: float = 0.0
    """Messages each conversation holds beyond the calibrated full body, on average over the run. The seed's
    full GET returns every one of them; a load test's seeded orders gain messages while it runs, and
    ``pollbench compare`` sets this to what they held on average in its steady window."""
    audience: Audience = "other-party"
    """Who receives a message: "other-party" (the chat: admin-sent ones reach the customer, customer-sent
    ones every admin) or "order" (every watcher of the order receives every message, as in a load test
    whose senders are separate clients from its receivers)."""

    def __post_init__(self) -> None:
        _positive_int("clients", self.clients)
        _positive_int("orders_per_client", self.orders_per_client)
        _positive_int("server_processes", self.server_processes)
        if not isinstance(self.admins, int) or self.admins < 0:
            raise ScenarioError(f"admins must be a whole number >= 0, got {self.admins!r}")
        if self.audience not in get_args(Audience):
            raise ScenarioError(
                f"audience must be one of {', '.join(get_args(Audience))}, got {self.audience!r}"
            )
        if self.arrivals not in get_args(Arrivals):
            raise ScenarioError(
                f"arrivals must be one of {', '.join(get_args(Arrivals))}, got {self.arrivals!r}"
            )
        for name in ("message_interval", "duration", "rtt_ms"):
            _positive_float(name, getattr(self, name))
        if not (math.isfinite(self.rtt_sigma) and self.rtt_sigma >= 0):
            raise ScenarioError(f"rtt_sigma must be >= 0, got {self.rtt_sigma!r}")
        if self.service_time_ms is not None:
            _positive_float("service_time_ms", self.service_time_ms)
        if self.server_cpu_quota is not None:
            check_cpu_quota(self.server_cpu_quota)
        if not (0.0 <= self.hidden_fraction <= 1.0):
            raise ScenarioError(f"hidden_fraction must be between 0 and 1, got {self.hidden_fraction!r}")
        _positive_int("message_bytes", self.message_bytes)
        _positive_float("burst_gap", self.burst_gap)
        if not (math.isfinite(self.conversation_messages) and self.conversation_messages >= 0):
            raise ScenarioError(f"conversation_messages must be >= 0, got {self.conversation_messages!r}")
        if (
            isinstance(self.burst_messages, bool)
            or not (isinstance(self.burst_messages, int | float) and math.isfinite(self.burst_messages))
            or self.burst_messages < 1
        ):
            raise ScenarioError(f"burst_messages must be a number >= 1, got {self.burst_messages!r}")
        try:
            parse_strategies(self.strategies)
        except StrategyError as exc:
            raise ScenarioError(f"strategies: {exc}") from None

    @property
    def orders(self) -> int:
        """Total orders (conversations) in the scenario."""
        return self.clients * self.orders_per_client

    def override(self, **changes: Any) -> Scenario:
        """A copy with `changes` applied; None values mean "not given on the command line" and are skipped."""
        given = {k: v for k, v in changes.items() if v is not None}
        return Scenario.from_mapping({**self.to_dict(), **given})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field (recorded in summary.json)."""
        d = dataclasses.asdict(self)
        d["strategies"] = list(self.strategies)
        return d

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, origin: str = "scenario") -> Scenario:
        """Build from a mapping of field names, converting durations and strategy lists; strict on keys."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ScenarioError(
                f"{origin}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(names))}"
            )
        kwargs = dict(data)
        for key in ("duration", "message_interval"):
            if key in kwargs:
                try:
                    kwargs[key] = parse_duration(kwargs[key])
                except ScenarioError as exc:
                    raise ScenarioError(f"{origin}: {key}: {exc}") from None
        if "strategies" in kwargs:
            s = kwargs["strategies"]
            try:
                kwargs["strategies"] = tuple(
                    p.spec for p in parse_strategies(s if isinstance(s, str) else list(s))
                )
            except StrategyError as exc:
                raise ScenarioError(f"{origin}: strategies: {exc}") from None
        for f in dataclasses.fields(cls):
            if f.name in kwargs and f.type in ("float", "float | None") and isinstance(kwargs[f.name], int):
                kwargs[f.name] = float(kwargs[f.name])
        try:
            return cls(**kwargs)
        except ScenarioError as exc:
            raise ScenarioError(f"{origin}: {exc}") from None
        except (TypeError, StrategyError) as exc:
            raise ScenarioError(f"{origin}: {exc}") from None


def check_cpu_quota(value: Any, name: str = "server_cpu_quota") -> float:
    """A CPU quota as a share of one core: 0 < Q <= 1."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not (0 < value <= 1):
        raise ScenarioError(f"{name} must be a share of one core, 0 < Q <= 1 (e.g. 0.2), got {value!r}")
    return float(value)


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ScenarioError(f"{name} must be a whole number > 0, got {value!r}")


def _positive_float(name: str, value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ScenarioError(f"{name} must be a positive number, got {value!r}")


def load_scenario(path: str | Path | None = None, **overrides: Any) -> Scenario:
    """Read a TOML scenario file (or start from defaults when `path` is None) and apply flag overrides."""
    base: dict[str, Any] = {}
    origin = "defaults"
    if path is not None:
        p = Path(path)
        origin = str(p)
        try:
            base = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ScenarioError(f"{p}: scenario file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{p}: not valid TOML ({exc})") from None
    scenario = Scenario.from_mapping(base, origin=origin)
    return scenario.override(**overrides)
