"""The floor for push memory: an aiohttp server whose SSE and WebSocket handlers do nothing at all.

``pollbench bench server`` holds the same crowd of idle subscribers against this server and against the
reference server, so the per-connection figure of the real server can be read against what aiohttp itself
costs (the transport, the request, the response, the handler's task). Its routes mirror the real ones
(``GET /api/stream`` and ``GET /ws`` with the ``subscribe``/``subscribed`` exchange) so the very same client
drives both; tokens and order ids are accepted and ignored.

``python -m reference_server.bench_bare [--host H] [--port P]`` prints
``pollbench bench-bare: listening on http://H:P`` once it accepts connections and stops on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import signal
from collections.abc import Sequence

from aiohttp import web

__all__ = ["create_bare_app", "main"]


async def _sse(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    # Hold the stream until the client leaves; a heartbeat write to a closed peer ends the handler.
    try:
        while request.transport is not None and not request.transport.is_closing():
            await asyncio.sleep(15.0)
            await resp.write(b": keepalive\n\n")
    except ConnectionResetError:
        pass
    return resp


async def _ws(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=30.0)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == web.WSMsgType.TEXT and '"subscribe"' in msg.data:
            await ws.send_json({"type": "subscribed", "orderIds": []})
    return ws


def create_bare_app() -> web.Application:
    """The do-nothing push server's application."""
    app = web.Application()
    app.router.add_get("/api/stream", _sse)
    app.router.add_get("/ws", _ws)
    return app


async def _serve(host: str, port: int) -> None:
    # Idle streams would otherwise hold shutdown for the default 60 s grace.
    runner = web.AppRunner(create_bare_app(), handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    bound = runner.addresses[0]
    print(f"pollbench bench-bare: listening on http://{host}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM."""
    p = argparse.ArgumentParser(prog="python -m reference_server.bench_bare", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:  # one descriptor per idle subscriber
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        uvloop.install()  # the reference server runs on uvloop too, so the floor is like for like
    except ImportError:  # pragma: no cover
        pass
    asyncio.run(_serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
