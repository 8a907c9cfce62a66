"""Calibration: the server's service times, the wire's byte counts and the memory of an open connection.

The simulator's server and network are described by a handful of constants. Defaults are sane figures for an
aiohttp + SQLite server on one core (sub-millisecond handlers, a 304 cheaper than a full response); a later
measurement calibrates them from the reference server and stores them in a small JSON file::

    {"service_ms": {"orders_304": 0.4, "since": 0.9}, "bytes": {"full_messages_body": 2048},
     "memory_per_connection_bytes": 32768, "meta": {"date": "...", "noop_us": 61.0}}

Keys missing from the file keep their defaults; unknown keys are errors, so a typo never goes unnoticed.
The one exception is ``meta``: a free-form object ``pollbench calibrate`` writes (when, where, how many
requests, notes); it is kept on :attr:`Calibration.meta` and never read by the model.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "Calibration",
    "CalibrationError",
    "ColdStart",
    "ConnectionScaling",
    "RequestKind",
    "ServiceTimes",
    "WireBytes",
    "load_calibration",
]

RequestKind = Literal[
    "orders_304",
    "orders_200",
    "since",
    "since_empty",
    "full_messages",
    "longpoll_register",
    "longpoll_reply",
    "longpoll_timeout",
    "post",
    "push",
    "heartbeat",
    "ping",
]


class CalibrationError(ValueError):
    """A calibration file that cannot be read or holds an unknown key or a bad value."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceTimes:
    """Mean event-loop time per request kind, milliseconds."""

    orders_304: float = 0.4
    """GET /api/orders answered 304 Not Modified (ETag matched)."""
    orders_200: float = 1.0
    """GET /api/orders with a changed list (full JSON)."""
    since: float = 0.8
    """GET /api/messages?orderId=X&since=CURSOR returning the new messages."""
    since_empty: float = 0.4
    """The same `since` poll with nothing new (answered from memory)."""
    full_messages: float = 1.5
    """The seed's full GET /api/messages?orderId=X (every message, no cursor)."""
    longpoll_register: float = 0.4
    """A long-poll request that finds nothing and is parked."""
    longpoll_reply: float = 0.8
    """A long-poll answered with news (on arrival or woken by a commit)."""
    longpoll_timeout: float = 0.2
    """A parked long-poll answered 204 when its timeout expires."""
    push: float = 0.1
    """Fan-out of one message to one open SSE/WebSocket connection."""
    heartbeat: float = 0.02
    """One SSE heartbeat comment written to one stream."""
    ping: float = 0.03
    """One WebSocket ping sent and its pong read."""
    post: float = 1.0
    """POST /api/messages: one message committed to SQLite (fan-out to subscribers not included)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WireBytes:
    """Bytes on the wire (HTTP/1.1 request/status lines and headers included, TCP/IP not)."""

    request: int = 420
    """A browser GET: request line, Host, Cookie, Accept, User-Agent, If-None-Match..."""
    response_headers: int = 220
    """Status line and headers of a JSON response; a 304 is exactly this."""
    orders_list_body_per_order: int = 350
    """JSON body of the order list, per order listed."""
    full_messages_body: int = 2048
    """Body of the seed's full GET /api/messages per order (the seed states ~2 KB per poll per order)."""
    since_envelope: int = 40
    """JSON envelope of a `since` answer around its messages ({"messages": [...], "cursor": N})."""
    message_overhead: int = 120
    """JSON fields around one message's text (ids, sender, timestamps)."""
    sse_connect: int = 650
    """EventSource request plus the 200 text/event-stream response headers."""
    sse_event_overhead: int = 40
    """`id:`/`event:`/`data:` lines and chunk framing around one SSE event."""
    sse_heartbeat: int = 15
    """One heartbeat comment with its chunk framing."""
    ws_connect: int = 620
    """Upgrade request plus the 101 Switching Protocols response."""
    ws_frame_overhead: int = 30
    """Frame header plus the JSON envelope ({"type": "message", ...}) around one message."""
    ws_ping: int = 8
    """A ping frame and the client's masked pong."""
    longpoll_204: int = 150
    """Status line and headers of an empty 204 long-poll answer."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionScaling:
    """Per-request CPU grows with the connections a process holds: every connection's protocol objects,
    timers and buffers are working set the CPU's caches must hold, so a request on one of 5 000 connections
    costs more than the same request on one of 100. Measured at saturation (``pollbench calibrate``)."""

    points: tuple[tuple[int, float], ...] = ()
    """(open connections, factor on every service time), ascending; empty: no scaling (factor 1)."""

    def factor(self, connections: float) -> float:
        """Factor at `connections`: linear between points, flat below the first, the last segment's slope
        beyond the last (an extrapolation, which ``meta`` of a calibration names)."""
        pts = self.points
        if not pts:
            return 1.0
        if len(pts) == 1 or connections <= pts[0][0]:
            return float(pts[0][1])
        for (n0, f0), (n1, f1) in zip(pts, pts[1:], strict=False):
            if connections <= n1:
                return float(f0 + (f1 - f0) * (connections - n0) / (n1 - n0))
        (n0, f0), (n1, f1) = pts[-2], pts[-1]
        return float(f1 + (f1 - f0) * (connections - n1) / (n1 - n0))


@dataclass(frozen=True, slots=True, kw_only=True)
class ColdStart:
    """CPU a request costs on top of its service time when it finds the event loop idle.

    An idle process's cache lines and TLB entries are taken by whatever else runs (here: the load
    generator), so the first request after an idle gap of g seconds runs slower: ``max_ms * (1 -
    exp(-g / tau_ms))``. It is why a lightly loaded server looks busier per request than a saturated one,
    and why extrapolating capacity from light load underestimates it. Measured at paced rates.
    """

    max_ms: float = 0.0
    """Extra CPU after a long idle gap, milliseconds (0: no penalty)."""
    tau_ms: float = 1.0
    """Idle gap at which the penalty reaches 63 % of ``max_ms``, milliseconds."""

    def penalty_s(self, idle_s: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Extra CPU seconds of requests that found the loop idle for `idle_s` seconds (0 for no gap)."""
        g = np.maximum(np.asarray(idle_s, dtype=np.float64), 0.0)
        if self.max_ms <= 0:
            return np.zeros_like(g)
        return (self.max_ms / 1000.0) * -np.expm1(-g / (self.tau_ms / 1000.0))

    def exposure_s2(self, idle_s: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The penalty integrated over idle spells of `idle_s` seconds, ``∫₀^g penalty_s(u) du`` (s²): a
        job arriving at a uniformly random moment of the spell pays this divided by g on average."""
        g = np.maximum(np.asarray(idle_s, dtype=np.float64), 0.0)
        if self.max_ms <= 0:
            return np.zeros_like(g)
        tau = self.tau_ms / 1000.0
        return (self.max_ms / 1000.0) * (g + tau * np.expm1(-g / tau))


@dataclass(frozen=True, slots=True, kw_only=True)
class Calibration:
    """Every constant of the simulated server and wire; defaults until the reference server is measured."""

    service_ms: ServiceTimes = field(default_factory=ServiceTimes)
    """Mean service time per request kind."""
    service_distribution: Literal["exponential", "deterministic"] = "exponential"
    """Shape of service times around their means."""
    bytes: WireBytes = field(default_factory=WireBytes)
    """Wire bytes per request and response part."""
    memory_per_connection_bytes: int = 48 * 1024
    """Server memory held by one open push stream or parked long-poll (buffers, task, subscription)."""
    memory_budget_bytes: int = 2 * 1024**3
    """Memory a server process may spend on open connections (capacity SLO default)."""
    memory_per_keepalive_bytes: int = 12 * 1024
    """Server memory held by one idle keep-alive HTTP connection (a poller between its requests)."""
    baseline_rss_bytes: int = 96 * 1024**2
    """Resident memory of the idle server process before any client connects."""
    connection_scaling: ConnectionScaling = field(default_factory=ConnectionScaling)
    """Factor on every service time as a function of the process's open connections."""
    cold_start: ColdStart = field(default_factory=ColdStart)
    """Extra CPU of a request that finds the event loop idle."""
    commit_ms: float = 0.0
    """Wall time from a message's ``createdAt`` until its commit is visible to readers and pushers
    (group commit and fsync on the writer thread: waiting, not CPU). Delays every delivery."""
    fd_limit: int | None = None
    """File descriptors the server process may open (its RLIMIT_NOFILE); None: this machine's limit."""
    fd_reserve: int = 32
    """Descriptors an idle server holds itself (listening socket, database, WAL, event loop, pipes)."""
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
    """Provenance from ``pollbench calibrate`` (date, host, sample sizes, notes); not read by the model."""

    def service_s(self, kind: RequestKind) -> float:
        """Mean service time of `kind`, seconds."""
        return float(getattr(self.service_ms, kind)) / 1000.0

    @property
    def connection_limit(self) -> int:
        """Client connections one process can hold: its descriptor limit less what it holds itself."""
        limit = self.fd_limit if self.fd_limit is not None else _nofile_limit()
        return max(1, limit - self.fd_reserve)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (recorded in the summary)."""
        d = dataclasses.asdict(self)
        d["connection_scaling"] = [list(p) for p in self.connection_scaling.points]
        return d


def _nofile_limit() -> int:
    """This machine's soft RLIMIT_NOFILE: what a server started from here would get."""
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return int(soft) if soft != resource.RLIM_INFINITY else 1 << 20


def _build(cls: type[Any], data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise CalibrationError(f"{where} must be a JSON object, got {type(data).__name__}")
    data = dict(data)
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise CalibrationError(
            f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}"
        )
    for key, value in data.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise CalibrationError(f"{where}.{key} must be a number >= 0, got {value!r}")
        if names[key].type == "int":
            data[key] = int(value)
    return cls(**data)


def load_calibration(path: str | Path | None) -> Calibration:
    """Read a calibration JSON; missing keys keep their defaults. None gives the defaults."""
    if path is None:
        return Calibration()
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalibrationError(f"{p}: calibration file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise CalibrationError(f"{p}: must be a JSON object")
    kwargs: dict[str, Any] = {}
    allowed = {f.name for f in dataclasses.fields(Calibration)}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise CalibrationError(
            f"{p}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(allowed))}"
        )
    if "service_ms" in raw:
        kwargs["service_ms"] = _build(ServiceTimes, raw["service_ms"], f"{p}: service_ms")
    if "bytes" in raw:
        kwargs["bytes"] = _build(WireBytes, raw["bytes"], f"{p}: bytes")
    if "meta" in raw:
        if not isinstance(raw["meta"], dict):
            raise CalibrationError(f"{p}: meta must be a JSON object, got {type(raw['meta']).__name__}")
        kwargs["meta"] = raw["meta"]
    dist = raw.get("service_distribution", "exponential")
    if dist not in ("exponential", "deterministic"):
        raise CalibrationError(
            f"{p}: service_distribution must be 'exponential' or 'deterministic', got {dist!r}"
        )
    kwargs["service_distribution"] = dist
    if "connection_scaling" in raw:
        kwargs["connection_scaling"] = _scaling(raw["connection_scaling"], f"{p}: connection_scaling")
    if "cold_start" in raw:
        kwargs["cold_start"] = _build(ColdStart, raw["cold_start"], f"{p}: cold_start")
    if "commit_ms" in raw:
        kwargs["commit_ms"] = _non_negative(raw["commit_ms"], f"{p}: commit_ms")
    if raw.get("fd_limit") is not None:
        kwargs["fd_limit"] = _whole(raw["fd_limit"], f"{p}: fd_limit")
    whole = ("memory_per_connection_bytes", "memory_budget_bytes", "memory_per_keepalive_bytes", "fd_reserve",
             "baseline_rss_bytes")  # fmt: skip
    for key in whole:
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise CalibrationError(f"{p}: {key} must be a whole number of bytes > 0, got {value!r}")
            kwargs[key] = value
    return Calibration(**kwargs)


def _non_negative(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise CalibrationError(f"{where} must be a number >= 0, got {value!r}")
    return float(value)


def _whole(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise CalibrationError(f"{where} must be a whole number > 0, got {value!r}")
    return value


def _scaling(value: Any, where: str) -> ConnectionScaling:
    """[[connections, factor], ...] with connections ascending and factors > 0."""
    if not isinstance(value, list):
        raise CalibrationError(f"{where} must be a list of [connections, factor] pairs, got {value!r}")
    points: list[tuple[int, float]] = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 2):
            raise CalibrationError(f"{where}: each point must be [connections, factor], got {item!r}")
        n, f = _whole(item[0], f"{where}: connections"), _non_negative(item[1], f"{where}: factor")
        if f <= 0 or (points and n <= points[-1][0]):
            raise CalibrationError(f"{where}: factors must be > 0 and connections ascending, got {value!r}")
        points.append((n, f))
    return ConnectionScaling(points=tuple(points))
