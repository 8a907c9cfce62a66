"""Running the app on a real socket: in-process for tests and load tests (``running_server``), or as the
``pollbench serve`` process (``serve``), with uvloop where available and a clean shutdown on SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web

from reference_server.app import create_app
from reference_server.config import ServerConfig
from reference_server.protocol import JsonErrorAppRunner
from reference_server.seeding import build_fixtures, write_fixtures
from reference_server.state import STATE

__all__ = ["base_url_of", "raise_open_file_limit", "run", "running_server", "serve"]

SHUTDOWN_TIMEOUT_S = 5.0
"""Grace given to in-flight requests at shutdown; push connections are closed before it starts."""


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (each idle push connection is a descriptor and the
    benchmark opens 20 000); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def base_url_of(runner: web.AppRunner) -> str:
    """``http://host:port`` of the first listening socket (the real port when 0 was asked for)."""
    host, port = runner.addresses[0][:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


@contextlib.asynccontextmanager
async def running_server(
    config: ServerConfig, *, host: str = "127.0.0.1", port: int = 0, fixtures: str | Path | None = None
) -> AsyncIterator[str]:
    """Serve ``create_app(config)`` on a real socket and yield its base URL; shuts down on exit.

    >>> async with running_server(ServerConfig(seed_customers=2)) as url: ...
    """
    app = create_app(config)
    # JSON errors even for requests aiohttp's parser refuses (see protocol.py).
    runner = JsonErrorAppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True, backlog=4096)
        await site.start()
        url = base_url_of(runner)
        if fixtures is not None:
            state = app[STATE]
            write_fixtures(fixtures, build_fixtures(config, state.auth, url))
        yield url
    finally:
        await runner.cleanup()


async def serve(
    config: ServerConfig,
    *,
    host: str,
    port: int,
    fixtures: str | Path | None = None,
    announce: Callable[[str], None] = print,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM (or ``stop`` is set); announce the URL once listening."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with running_server(config, host=host, port=port, fixtures=fixtures) as url:
            announce(url)
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to completion on uvloop if it is installed, else on asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)
