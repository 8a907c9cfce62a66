"""The running server's shared state, kept on the app under one typed key (no module-level globals)."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from reference_server.auth import TokenAuthority
from reference_server.bodycache import BodyCache
from reference_server.config import ServerConfig
from reference_server.metrics import Metrics
from reference_server.orderbook import OrderBook
from reference_server.pollmemo import PollMemo
from reference_server.pubsub import Hub
from reference_server.store import Store

__all__ = ["STATE", "ServerState"]


@dataclass(slots=True, kw_only=True)
class ServerState:
    """Everything handlers share. ``store`` is set once the app starts (see ``app.cleanup_ctx``)."""

    config: ServerConfig
    """The configuration the app was built with."""
    auth: TokenAuthority
    """Issues and verifies bearer tokens."""
    metrics: Metrics
    """This app's Prometheus collectors."""
    book: OrderBook = field(default_factory=OrderBook)
    """In-memory cursors and counters: the poll path's access path."""
    hub: Hub = field(default_factory=Hub)
    """Fan-out to long-polls, SSE and WebSockets."""
    bodies: BodyCache = field(default_factory=BodyCache)
    """Encoded GET /api/messages bodies by ETag: a poll of unchanged state is not rebuilt."""
    polls: PollMemo = field(init=False)
    """Resolved poll requests, so a repeated poll skips auth, query parsing and ETag formatting; bounded by
    ``config.token_cache_max``, like the token cache."""
    store: Store | None = None
    """The database; None until startup has opened it."""
    websockets: set[web.WebSocketResponse] = field(default_factory=set)
    """Open WebSocket connections, closed at shutdown."""
    streams: set[web.StreamResponse] = field(default_factory=set)
    """Open SSE responses, ended at shutdown."""

    def __post_init__(self) -> None:
        self.polls = PollMemo(self.config.token_cache_max)

    def db(self) -> Store:
        """The open store (handlers run only after startup, so it is always there)."""
        if self.store is None:
            raise RuntimeError("store used before the app started")
        return self.store


STATE = web.AppKey("pollbench_state", ServerState)
