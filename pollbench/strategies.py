"""Delivery strategies: how a client learns about new messages.

A strategy is one small frozen object parsed from a spec string such as ``poll:5`` or
``adaptive:min=3,max=30,factor=2``. The simulator (``sim/``) and the load tests
(``loadtests/``) both consume these objects, so a strategy is defined exactly once.

Spec grammar::

    poll:T                  differential polling every T seconds (setInterval semantics: a tick every T s
                            whatever the response time). Each tick sends GET /api/orders with If-None-Match
                            (mostly a 304), then GET /api/messages?orderId=X&since=CURSOR for each order whose
                            cursor moved.
    seed-dashboard:T        the seed's dashboard, naive: each tick fetches the order list, then one full
                            GET /api/messages?orderId=X per order (1 + K requests), no ETag, no cursor.
    adaptive[:k=v,...]      differential polling whose interval grows by `factor` on every empty poll up to
                            `max` and resets to `min` on news; hidden tabs are throttled as browsers do.
                            Keys: min (3), max (30), factor (2), hidden_min (1), throttle_after (300),
                            throttled (60).
    longpoll[:TIMEOUT]      GET /api/messages/wait?orderId=X&since=CURSOR held open up to TIMEOUT s (30).
    sse[:HEARTBEAT]         one EventSource on /api/stream for all the client's orders; heartbeat 15 s.
    ws[:PING]               one WebSocket on /ws subscribed to all the client's orders; ping every 30 s.
    all                     poll:3, poll:5, poll:10, seed-dashboard:3, adaptive, longpoll, sse, ws.

Canonical spec strings (``Strategy.spec``) omit defaults, so ``longpoll:30`` and ``longpoll`` are the
same strategy and name the same results.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeAlias

__all__ = [
    "ALL_SPECS",
    "Adaptive",
    "LongPoll",
    "Poll",
    "SeedDashboard",
    "ServerSentEvents",
    "Strategy",
    "StrategyError",
    "Transport",
    "WebSocket",
    "parse_strategies",
    "parse_strategy",
]

Transport = Literal["poll", "longpoll", "sse", "ws"]

ALL_SPECS: tuple[str, ...] = (
    "poll:3",
    "poll:5",
    "poll:10",
    "seed-dashboard:3",
    "adaptive",
    "longpoll",
    "sse",
    "ws",
)


class StrategyError(ValueError):
    """A strategy spec string that cannot be parsed; the message says what is wrong and what is valid."""


class StrategyBase(Protocol):
    """What every strategy object offers."""

    @property
    def spec(self) -> str:
        """Canonical spec string, e.g. ``poll:5``; used as the strategy's name in every result."""
        ...

    @property
    def transport(self) -> Transport:
        """How the client talks to the server."""
        ...

    @property
    def is_push(self) -> bool:
        """True when the server sends messages on an open connection (SSE, WebSocket)."""
        ...

    @property
    def worst_wait_s(self) -> float:
        """Longest a committed message waits for the client on an idle server, before any round trip
        (a poll interval; adaptive's longest interval with the tab visible; 0 for held requests and push)."""
        ...


def _fmt(x: float) -> str:
    """Format a number the way a person writes it in a spec: 3, 2.5, 0.25."""
    return f"{x:g}"


def _positive(name: str, value: float, spec: str) -> None:
    if not math.isfinite(value) or value <= 0:
        raise StrategyError(f"{spec!r}: {name} must be a positive number of seconds, got {_fmt(value)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Poll:
    """Differential polling: one conditional request per tick, a `since` fetch per order with news."""

    interval_s: float
    """Seconds between ticks (setInterval: ticks do not wait for responses)."""

    transport: Transport = field(default="poll", init=False)
    is_push: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        _positive("interval", self.interval_s, f"poll:{_fmt(self.interval_s)}")

    @property
    def spec(self) -> str:
        return f"poll:{_fmt(self.interval_s)}"

    @property
    def worst_wait_s(self) -> float:
        return self.interval_s


@dataclass(frozen=True, slots=True, kw_only=True)
class SeedDashboard:
    """The seed's naive dashboard: order list, then a full GET /api/messages per order, every tick."""

    interval_s: float = 3.0
    """Seconds between ticks (the seed uses 3)."""

    transport: Transport = field(default="poll", init=False)
    is_push: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        _positive("interval", self.interval_s, f"seed-dashboard:{_fmt(self.interval_s)}")

    @property
    def spec(self) -> str:
        return f"seed-dashboard:{_fmt(self.interval_s)}"

    @property
    def worst_wait_s(self) -> float:
        return self.interval_s

    def requests_per_tick(self, orders: int) -> int:
        """The seed's fetchMessageCounts loop: the order list plus one request per order."""
        return 1 + orders


@dataclass(frozen=True, slots=True, kw_only=True)
class Adaptive:
    """Differential polling whose interval backs off while nothing happens and snaps back on news."""

    min_s: float = 3.0
    """Interval after news, and the starting interval."""
    max_s: float = 30.0
    """Upper bound of the interval while polls come back empty."""
    factor: float = 2.0
    """Multiplier applied to the interval after each empty poll."""
    hidden_min_s: float = 1.0
    """Browsers run timers of a hidden tab at most once per this many seconds."""
    throttle_after_s: float = 300.0
    """After this long hidden, browsers throttle timers harder (Chrome's intensive throttling)."""
    throttled_s: float = 60.0
    """Minimum interval once intensively throttled."""

    transport: Transport = field(default="poll", init=False)
    is_push: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        s = self.spec
        for name in ("min_s", "max_s", "hidden_min_s", "throttle_after_s", "throttled_s"):
            _positive(name.removesuffix("_s"), getattr(self, name), s)
        if self.max_s < self.min_s:
            raise StrategyError(f"{s!r}: max ({_fmt(self.max_s)}) must be >= min ({_fmt(self.min_s)})")
        if not math.isfinite(self.factor) or self.factor < 1:
            raise StrategyError(f"{s!r}: factor must be >= 1, got {_fmt(self.factor)}")

    @property
    def spec(self) -> str:
        parts = [
            f"{key}={_fmt(getattr(self, attr))}"
            for key, attr in _ADAPTIVE_KEYS.items()
            if getattr(self, attr) != _ADAPTIVE_DEFAULTS[attr]
        ]
        return "adaptive" + (":" + ",".join(parts) if parts else "")

    @property
    def worst_wait_s(self) -> float:
        return self.max_s

    def next_interval(self, current_s: float, *, got_news: bool) -> float:
        """Interval before the next poll, given the current one and whether the last poll brought news."""
        if got_news:
            return self.min_s
        return min(self.max_s, max(self.min_s, current_s * self.factor))

    def effective_interval(self, interval_s: float, *, hidden_for_s: float | None) -> float:
        """The interval a browser actually honours: throttled while the tab is hidden.

        `hidden_for_s` is how long the tab has been hidden, or None when it is visible.
        """
        if hidden_for_s is None:
            return interval_s
        floor = self.throttled_s if hidden_for_s >= self.throttle_after_s else self.hidden_min_s
        return max(interval_s, floor)


_ADAPTIVE_KEYS: dict[str, str] = {
    "min": "min_s",
    "max": "max_s",
    "factor": "factor",
    "hidden_min": "hidden_min_s",
    "throttle_after": "throttle_after_s",
    "throttled": "throttled_s",
}
_ADAPTIVE_DEFAULTS: dict[str, float] = {
    "min_s": 3.0,
    "max_s": 30.0,
    "factor": 2.0,
    "hidden_min_s": 1.0,
    "throttle_after_s": 300.0,
    "throttled_s": 60.0,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class LongPoll:
    """Long-polling: a request per order held open until news or timeout, re-issued at once."""

    timeout_s: float = 30.0
    """Server-side hold time before an empty 204 (the server caps it at 60 s)."""

    transport: Transport = field(default="longpoll", init=False)
    is_push: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        _positive("timeout", self.timeout_s, f"longpoll:{_fmt(self.timeout_s)}")
        if self.timeout_s > 60:
            raise StrategyError(f"'longpoll:{_fmt(self.timeout_s)}': timeout must be at most 60 s")

    @property
    def spec(self) -> str:
        return "longpoll" if self.timeout_s == 30.0 else f"longpoll:{_fmt(self.timeout_s)}"

    @property
    def worst_wait_s(self) -> float:
        return 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSentEvents:
    """One EventSource per client over all its orders; the server pushes each message as an event."""

    heartbeat_s: float = 15.0
    """Seconds between comment heartbeats that keep proxies from closing an idle stream."""

    transport: Transport = field(default="sse", init=False)
    is_push: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        _positive("heartbeat", self.heartbeat_s, f"sse:{_fmt(self.heartbeat_s)}")

    @property
    def spec(self) -> str:
        return "sse" if self.heartbeat_s == 15.0 else f"sse:{_fmt(self.heartbeat_s)}"

    @property
    def worst_wait_s(self) -> float:
        return 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class WebSocket:
    """One WebSocket per client subscribed to all its orders; the server pushes each message as a frame."""

    ping_s: float = 30.0
    """Seconds between keepalive pings."""

    transport: Transport = field(default="ws", init=False)
    is_push: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        _positive("ping", self.ping_s, f"ws:{_fmt(self.ping_s)}")

    @property
    def spec(self) -> str:
        return "ws" if self.ping_s == 30.0 else f"ws:{_fmt(self.ping_s)}"

    @property
    def worst_wait_s(self) -> float:
        return 0.0


Strategy: TypeAlias = Poll | SeedDashboard | Adaptive | LongPoll | ServerSentEvents | WebSocket

_HELP = (
    "valid specs: poll:T, seed-dashboard:T, adaptive[:min=3,max=30,factor=2], longpoll[:TIMEOUT], "
    "sse[:HEARTBEAT], ws[:PING], or 'all'"
)


def _number(text: str, what: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise StrategyError(f"{spec!r}: {what} must be a number of seconds, got {text!r}") from None
    return value


def _parse_adaptive(arg: str | None, spec: str) -> Adaptive:
    kwargs: dict[str, float] = {}
    for item in (arg or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in _ADAPTIVE_KEYS:
            raise StrategyError(
                f"{spec!r}: unknown adaptive parameter {item.strip()!r}; "
                f"expected key=value with key one of {', '.join(_ADAPTIVE_KEYS)}"
            )
        kwargs[_ADAPTIVE_KEYS[key]] = _number(value.strip(), key, spec)
    return Adaptive(**kwargs)


def parse_strategy(spec: str) -> Strategy:
    """Parse one spec string (``poll:5``, ``sse``...) into its strategy object.

    Raises StrategyError with a sentence naming the problem and the valid forms.
    """
    text = spec.strip()
    name, sep, arg = text.partition(":")
    name = name.strip().lower()
    argument = arg.strip() if sep else None
    if sep and not argument:
        raise StrategyError(f"{spec!r}: nothing after ':'; {_HELP}")
    if name == "poll":
        if argument is None:
            raise StrategyError(f"{spec!r}: poll needs an interval, e.g. poll:3")
        return Poll(interval_s=_number(argument, "interval", spec))
    if name == "seed-dashboard":
        if argument is None:
            return SeedDashboard()
        return SeedDashboard(interval_s=_number(argument, "interval", spec))
    if name == "adaptive":
        return _parse_adaptive(argument, spec)
    if name == "longpoll":
        if argument is None:
            return LongPoll()
        return LongPoll(timeout_s=_number(argument, "timeout", spec))
    if name == "sse":
        if argument is None:
            return ServerSentEvents()
        return ServerSentEvents(heartbeat_s=_number(argument, "heartbeat", spec))
    if name in ("ws", "websocket"):
        if argument is None:
            return WebSocket()
        return WebSocket(ping_s=_number(argument, "ping", spec))
    raise StrategyError(f"unknown strategy {spec!r}; {_HELP}")


def parse_strategies(specs: str | Iterable[str]) -> tuple[Strategy, ...]:
    """Parse a comma-separated list (or an iterable of specs); ``all`` expands to ALL_SPECS.

    Commas inside an adaptive parameter list are understood: ``adaptive:min=2,max=20,poll:5``.
    Duplicates (by canonical spec) are dropped, order kept.
    """
    items = _split(specs) if isinstance(specs, str) else [s for spec in specs for s in _split(spec)]
    if not items:
        raise StrategyError(f"no strategy given; {_HELP}")
    out: dict[str, Strategy] = {}
    for item in items:
        expanded = ALL_SPECS if item.strip().lower() == "all" else (item,)
        for one in expanded:
            strategy = parse_strategy(one)
            out.setdefault(strategy.spec, strategy)
    return tuple(out.values())


def _split(text: str) -> list[str]:
    """Split on commas, re-attaching ``key=value`` pieces to the adaptive spec before them."""
    items: list[str] = []
    for piece in text.split(","):
        piece = piece.strip()
        if not piece:
            continue
        if items and "=" in piece and ":" not in piece and items[-1].lower().startswith("adaptive"):
            items[-1] += "," + piece
        else:
            items.append(piece)
    return items
