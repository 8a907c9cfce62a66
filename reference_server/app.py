"""The application factory: ``create_app(config)`` wires routes, middlewares and the resources whose
lifetime is the app's (database, pruner, open push connections)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator

from aiohttp import WSCloseCode, web

from reference_server import longpoll, messages, ops, orders, sse, ws
from reference_server.auth import TokenAuthority
from reference_server.config import MAX_BODY_BYTES, ServerConfig
from reference_server.errors import UNMATCHED, json_errors, unmatched
from reference_server.metrics import Metrics
from reference_server.overload import GATE, PushGate
from reference_server.seeding import seed_store
from reference_server.state import STATE, ServerState
from reference_server.store import SQLiteStore

__all__ = ["create_app"]

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


def create_app(config: ServerConfig) -> web.Application:
    """A ready-to-run app; nothing is opened until it starts (store, seeding and pruning are in
    ``cleanup_ctx``)."""
    metrics = Metrics()
    state = ServerState(
        config=config,
        auth=TokenAuthority(config.secret or secrets.token_hex(32), cache_max=config.token_cache_max),
        metrics=metrics,
    )
    # No middlewares on purpose (see errors.py): handlers are wrapped instead.
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.on_response_prepare.append(metrics.on_response_prepare)  # counts JSON errors too
    app[STATE] = state
    app[GATE] = PushGate(config.max_connections, metrics.registry)
    _add_routes(app)
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_pruner_ctx)
    app.on_shutdown.append(_close_connections)
    return app


def _add_routes(app: web.Application) -> None:
    # The two hot polls answer their own errors (no wrapper call on the way to a 304).
    app.router.add_get("/api/messages", messages.get_messages, allow_head=False)
    app.router.add_get("/api/orders", orders.get_orders, allow_head=False)
    plain = [
        ("POST", "/api/messages", messages.post_message),
        ("PUT", "/api/messages", messages.mark_read),
        ("GET", "/api/messages/wait", longpoll.wait_messages),
        ("GET", "/healthz", ops.healthz),
        ("GET", "/metrics", ops.metrics),
        ("GET", "/openapi.json", ops.openapi),
    ]
    for method, path, handler in plain:
        app.router.add_route(method, path, json_errors(handler))
    # Push handlers answer their own errors (a wrapper's frame would live as long as the connection).
    app.router.add_get("/api/stream", sse.stream, allow_head=False)
    app.router.add_get("/ws", ws.websocket, allow_head=False)
    app.router.add_get("/bench/noop", ops.noop, allow_head=False)  # the ceiling: nothing in front of it
    app.router.add_route("*", "/{tail:.*}", unmatched, name=UNMATCHED)  # JSON 404/405, must stay last


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the database, seed demo data, load the order book; close the database last."""
    state = app[STATE]
    store = SQLiteStore(state.config.db_path, observe=state.metrics.observe_store)
    await store.open()
    try:
        await seed_store(store, state.config)
        for order_id, customer_id in store.orders():
            state.book.add_order(order_id, customer_id)
        state.book.load_counts(store.counts(), store.last_seq())
        state.store = store
        yield
    finally:
        state.store = None
        await store.close()


async def prune_once(state: ServerState) -> int:
    """Delete messages past retention; if any went, rebuild counters and retire old ETags."""
    store = state.db()
    cutoff = int(time.time() * 1000 - state.config.retention_days * DAY_MS)
    removed = await store.prune(cutoff)
    if removed:
        state.book.pruned()
        state.book.load_counts(store.counts(), store.last_seq())
        log.info("pruned %d messages older than %g days", removed, state.config.retention_days)
    return removed


async def _prune_forever(state: ServerState) -> None:
    while True:
        try:
            await prune_once(state)
        except Exception:
            log.exception("pruning failed; will retry")
        await asyncio.sleep(state.config.prune_interval_s)


async def _pruner_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_prune_forever(app[STATE]))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_connections(app: web.Application) -> None:
    """Shutdown: release long-polls, end SSE streams, close WebSockets with 1001 Going Away."""
    state = app[STATE]
    state.hub.close()
    for socket in list(state.websockets):
        await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
