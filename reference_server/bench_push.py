"""A crowd of idle push subscribers, run in its own process so its memory is never counted as the server's.

``python -m reference_server.bench_push --kind sse|ws --base-url URL --targets FILE --count N`` opens N
Server-Sent Events streams (``GET /api/stream?orderId=…&since=…&token=…``) or N WebSockets
(``GET /ws?token=…`` then a ``subscribe`` message, answered by ``subscribed``), a bounded number of
handshakes at a time, and then holds them open, reading and discarding whatever arrives (heartbeats,
pings), like a dashboard left open.

It speaks a line protocol on stdout so the benchmark can follow it: ``progress OPENED FAILED`` while opening,
then ``ready OPENED FAILED`` once every connection is up or has failed; it closes everything and prints
``closed`` when stdin reaches end-of-file or ``--hold-s`` runs out, whichever comes first. Every step has a
timeout, so the process always stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

__all__ = ["PushTarget", "PushTally", "main", "read_targets"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PushTarget:
    """Whom one subscriber acts as and what it subscribes to."""

    token: str
    """the bearer token of the customer the connection belongs to."""
    order_id: str
    """the order whose messages it subscribes to."""
    since: int
    """the order's current cursor, so the subscription starts live with nothing to replay."""


@dataclass(slots=True)
class PushTally:
    """Running count of handshakes that succeeded or failed (mutable: updated by every connection task)."""

    opened: int = 0
    failed: int = 0
    first_error: str = ""

    def fail(self, exc: BaseException) -> None:
        self.failed += 1
        if not self.first_error:
            self.first_error = f"{type(exc).__name__}: {exc}"[:300]


def read_targets(path: Path) -> list[PushTarget]:
    """The subscriber identities from a JSON list of ``{"token", "orderId", "since"}``."""
    raw = json.loads(path.read_text())
    return [PushTarget(token=str(t["token"]), order_id=str(t["orderId"]), since=int(t["since"])) for t in raw]


def _raise_fd_limit() -> None:
    # Each subscriber is one socket; the default soft limit (often 1024) would cap the crowd.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _drain_sse(resp: aiohttp.ClientResponse) -> None:
    while await resp.content.readany():
        pass


async def _open_sse(session: aiohttp.ClientSession, base: str, target: PushTarget, timeout: float) -> Drain:
    query = urlencode({"orderId": target.order_id, "since": target.since, "token": target.token})
    resp = await session.get(
        f"{base}/api/stream?{query}",
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=None),
    )
    if resp.status != 200:
        body = (await resp.text())[:200]
        resp.release()
        raise RuntimeError(f"/api/stream answered {resp.status}: {body}")
    return _drain_sse(resp)


async def _await_subscribed(ws: aiohttp.ClientWebSocketResponse) -> None:
    while True:
        msg = await ws.receive()
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise RuntimeError(f"WebSocket closed before subscribing ({msg.type.name})")
        data = json.loads(msg.data)
        if data.get("type") == "subscribed":
            return
        if data.get("type") == "error":
            raise RuntimeError(f"subscribe refused: {data}")


async def _drain_ws(ws: aiohttp.ClientWebSocketResponse) -> None:
    # Receiving is what answers the server's pings (autoping), so an idle client keeps reading.
    async for _msg in ws:
        pass


async def _open_ws(session: aiohttp.ClientSession, base: str, target: PushTarget, timeout: float) -> Drain:
    ws = await session.ws_connect(
        f"{base}/ws?{urlencode({'token': target.token})}",
        timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
        autoping=True,
        heartbeat=None,
    )
    await ws.send_json({"type": "subscribe", "orderIds": [target.order_id], "since": target.since})
    await _await_subscribed(ws)
    return _drain_ws(ws)


Drain = Coroutine[Any, Any, None]
Opener = Callable[[aiohttp.ClientSession, str, PushTarget, float], Awaitable[Drain]]
OPENERS: dict[str, Opener] = {"sse": _open_sse, "ws": _open_ws}


async def _subscriber(
    opener: Opener,
    session: aiohttp.ClientSession,
    base: str,
    target: PushTarget,
    gate: asyncio.Semaphore,
    tally: PushTally,
    timeout: float,
) -> None:
    # The gate bounds handshakes in flight (a burst of 10 000 SYNs would overflow the server's accept
    # backlog); it is released once the connection is up, so holding costs no slot.
    async with gate:
        try:
            async with asyncio.timeout(timeout):
                drain = await opener(session, base, target, timeout)
        except Exception as exc:  # any failed handshake is counted, never fatal to the crowd
            tally.fail(exc)
            return
    tally.opened += 1
    try:
        await drain
    except (TimeoutError, aiohttp.ClientError, ConnectionError):
        pass  # the server dropped us; the benchmark sees it in the server's RSS, not here


def _say(line: str) -> None:
    print(line, flush=True)


async def _open_all(args: argparse.Namespace, session: aiohttp.ClientSession) -> list[asyncio.Task[None]]:
    targets = read_targets(Path(args.targets))
    gate = asyncio.Semaphore(args.concurrency)
    tally = PushTally()
    opener = OPENERS[args.kind]
    base, timeout = args.base_url, args.timeout_s
    picks = (targets[i % len(targets)] for i in range(args.count))
    tasks = [asyncio.create_task(_subscriber(opener, session, base, t, gate, tally, timeout)) for t in picks]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + args.open_budget_s
    while tally.opened + tally.failed < args.count and loop.time() < deadline:
        _say(f"progress {tally.opened} {tally.failed}")
        await asyncio.sleep(0.25)
    if tally.first_error:
        print(f"first error: {tally.first_error}", file=sys.stderr, flush=True)
    _say(f"ready {tally.opened} {tally.failed}")
    return tasks


async def _wait_for_eof(limit_s: float) -> None:
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.read), timeout=limit_s)
    except TimeoutError:
        pass


async def _run(args: argparse.Namespace) -> None:
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = await _open_all(args, session)
        await _wait_for_eof(args.hold_s)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10.0)
    _say("closed")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m reference_server.bench_push", description=__doc__)
    p.add_argument("--kind", choices=sorted(OPENERS), required=True)
    p.add_argument("--base-url", required=True, help="the server, e.g. http://127.0.0.1:8080")
    p.add_argument("--targets", required=True, help="JSON file: list of {token, orderId, since}")
    p.add_argument("--count", type=int, required=True, help="connections to open")
    p.add_argument("--concurrency", type=int, default=200, help="handshakes in flight at once")
    p.add_argument("--timeout-s", type=float, default=15.0, help="per-handshake timeout")
    p.add_argument("--open-budget-s", type=float, default=180.0, help="give up opening after this long")
    p.add_argument("--hold-s", type=float, default=600.0, help="close everything after this long at most")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Open the crowd, hold it until stdin closes (or --hold-s), close it; exit 0."""
    args = _parse(argv)
    _raise_fd_limit()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        pass
    try:
        asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
