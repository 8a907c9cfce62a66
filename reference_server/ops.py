"""Operational endpoints: health, metrics, the API description, and the benchmark's ceiling handler."""

from __future__ import annotations

import json

from aiohttp import web

from reference_server.errors import error_response
from reference_server.openapi import openapi_document
from reference_server.state import STATE

__all__ = ["healthz", "metrics", "noop", "openapi"]

_NOOP_BODY = b'{"ok":true}'


async def noop(request: web.Request) -> web.Response:
    """GET /bench/noop: no auth, no database. The ceiling every other route is measured against."""
    return web.Response(body=_NOOP_BODY, content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz: 200 when the database answers, 503 otherwise."""
    state = request.app[STATE]
    if state.store is None or not state.store.ping():
        return error_response(503, "unavailable", "The database is not reachable.")
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics: Prometheus text format."""
    return await request.app[STATE].metrics.handle(request)


async def openapi(request: web.Request) -> web.Response:
    """GET /openapi.json: the OpenAPI 3.1 description of this server."""
    return web.Response(text=json.dumps(openapi_document(), indent=1), content_type="application/json")
