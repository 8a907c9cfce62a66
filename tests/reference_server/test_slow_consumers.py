"""Slow consumers cannot grow the server's memory: 100 stalled push clients (50 SSE, 50 WebSocket) sit on
one order while a busy stream of large messages is posted to it. Each stalled client is cut off once its
bounded queue fills, the server's RSS stays flat, and a healthy reader on the same order receives every
message in order without reconnecting. And a consumer that was cut off resumes by cursor without loss.

The server is a real ``pollbench serve`` subprocess, so the RSS measured (psutil) is the server's alone.
The stalled clients are raw sockets with a tiny receive buffer that connect, subscribe, read the
acknowledgement and then never read again, so the kernel buffers fill and the server's writes block.

The memory bound. Each message is a 4 000-emoji content, ``MSG_BYTES`` ~16 KB as the server holds it
(a Python str of 4-byte characters) and on the wire. RSS is sampled after N/4 and after N messages. Between
the two samples a bounded server can only add what its bounded buffers might not yet have filled at the
first sample: per stalled consumer, aiohttp's transport write buffer (paused above its 64 KiB high-water
mark) plus the message being written, and, shared by all of them (a message is encoded once per publish),
at most ``PUSH_QUEUE`` queued messages; plus ``SLACK`` for the allocator and SQLite's page cache (2 MiB per
connection by default). An unbounded queue would instead pin every message published after the consumers
stalled: 3N/4 x MSG_BYTES = 24 MB and more (36 MB measured with --push-queue 100000), well above
the bound (~13 MB).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reference_server import ServerConfig, TokenAuthority, running_server
from tests.reference_server.raw_http import host_port

pytestmark = pytest.mark.timeout(60)

STALLED_SSE = 50
STALLED_WS = 50
STALLED = STALLED_SSE + STALLED_WS
N = 2000
"""Messages posted."""
PUSH_QUEUE = 64
"""The server's --push-queue: messages buffered per connection before a non-reader is cut off."""
WINDOW = 32
"""Posts never run more than this ahead of the healthy reader, so its queue (at most WINDOW) never fills:
a reader that keeps up is never cut off, whatever the machine's load."""
POSTERS = 8
CONTENT = "\U0001f600" * 4000
MSG_BYTES = 4 * len(CONTENT)
TRANSPORT_HIGH_WATER = 64 * 1024
SLACK = 4 * 1024 * 1024
RSS_BOUND = STALLED * (TRANSPORT_HIGH_WATER + MSG_BYTES) + PUSH_QUEUE * MSG_BYTES + SLACK
SMALL_RCVBUF = 4096
LISTENING = "pollbench serve: listening on "


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    admin: str
    customer: str


@pytest.fixture
def db_dir(tmp_path: Path) -> Iterator[Path]:
    """tmpfs when there is one: every commit fsyncs, and on a busy shared disk fsync latency, not the server,
    would set the test's duration. tmpfs pages are not the server's RSS (SQLite reads through its own page
    cache of bounded size), so the memory measurement is unaffected."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="pollbench-slow-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def server(tmp_path: Path, db_dir: Path) -> Iterator[Server]:
    fixtures = tmp_path / "fx.json"
    argv = [
        *(sys.executable, "-m", "pollbench", "serve", "--port", "0", "--db", str(db_dir / "chat.db")),
        *("--seed-customers", "1", "--orders-per-customer", "1", "--admins", "1"),
        *("--messages-per-order", "0", "--push-queue", str(PUSH_QUEUE), "--fixtures", str(fixtures)),
        *("--sse-heartbeat", "60", "--ws-heartbeat", "60"),
    ]
    with open(tmp_path / "stderr.txt", "w") as stderr:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True)
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith(LISTENING), (line, (tmp_path / "stderr.txt").read_text())
        doc = json.loads(fixtures.read_text())
        yield Server(
            url=line.removeprefix(LISTENING),
            pid=proc.pid,
            admin=doc["admins"][0]["token"],
            customer=doc["customers"][0]["token"],
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- stalled consumers: raw blocking sockets that stop reading once subscribed -----------------------------
def _connect(url: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RCVBUF)  # before connect: sets the window
    sock.settimeout(5)
    sock.connect(host_port(url))
    return sock


def _read_until(sock: socket.socket, marker: bytes) -> None:
    seen = b""
    while marker not in seen:
        chunk = sock.recv(4096)
        assert chunk, f"server closed before {marker!r}"
        seen += chunk


def stalled_sse(url: str, token: str) -> socket.socket:
    sock = _connect(url)
    sock.sendall(
        f"GET /api/stream?orderId=o1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    )
    _read_until(sock, b": connected\n\n")  # subscribed; from here on it never reads
    return sock


def _masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def stalled_ws(url: str, token: str) -> socket.socket:
    sock = _connect(url)
    sock.sendall(
        (
            f"GET /ws?token={token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        ).encode()
    )
    sock.sendall(_masked_text_frame('{"type":"subscribe","orderIds":["o1"]}'))
    _read_until(sock, b'"subscribed"')
    return sock


def was_disconnected(sock: socket.socket) -> bool:
    """True if the server closed or reset the connection (what was buffered is read and discarded)."""
    try:
        while sock.recv(1 << 16):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False  # still open: the server never cut it off
    return True


# -- the busy order ------------------------------------------------------------------------------------
async def metrics(session: aiohttp.ClientSession, url: str) -> dict[tuple[str, str], float]:
    async with session.get(f"{url}/metrics") as resp:
        text = await resp.text()
    return {
        (s.name, s.labels.get("kind", "")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


class HealthyReader:
    """An SSE reader on o1 that keeps up; records every seq it gets."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.progress = asyncio.Condition()

    async def run(self, resp: aiohttp.ClientResponse) -> None:
        while len(self.seqs) < N:
            line = await resp.content.readline()
            assert line, "the healthy reader was disconnected"
            if line.startswith(b"id: "):
                async with self.progress:
                    self.seqs.append(int(line[4:]))
                    self.progress.notify_all()

    async def wait_for(self, count: int) -> None:
        async with self.progress:
            await self.progress.wait_for(lambda: len(self.seqs) >= count)


async def post_all(
    session: aiohttp.ClientSession, server: Server, reader: HealthyReader, rss: dict[int, int]
):
    body = json.dumps({"orderId": "o1", "content": CONTENT}, ensure_ascii=False).encode()
    auth = {"Authorization": f"Bearer {server.admin}", "Content-Type": "application/json"}
    proc = psutil.Process(server.pid)
    next_index = iter(range(N))

    async def poster() -> None:
        for i in next_index:
            await reader.wait_for(i - WINDOW)
            async with session.post(f"{server.url}/api/messages", data=body, headers=auth) as resp:
                assert resp.status == 201
            if i + 1 in rss:
                await reader.wait_for(i + 1)
                rss[i + 1] = proc.memory_info().rss

    await asyncio.gather(*(poster() for _ in range(POSTERS)))


async def test_stalled_consumers_are_cut_off_and_server_memory_stays_flat(server: Server):
    stalled: list[Any] = await asyncio.gather(
        *(asyncio.to_thread(stalled_sse, server.url, server.customer) for _ in range(STALLED_SSE)),
        *(asyncio.to_thread(stalled_ws, server.url, server.customer) for _ in range(STALLED_WS)),
    )
    reader = HealthyReader()
    rss = {N // 4: 0, N: 0}
    async with aiohttp.ClientSession() as session:
        auth = {"Authorization": f"Bearer {server.customer}"}
        async with session.get(f"{server.url}/api/stream", params={"orderId": "o1"}, headers=auth) as stream:
            assert await stream.content.readline() == b": connected\n"
            before = await metrics(session, server.url)
            assert before[("pollbench_open_push_connections", "sse")] == STALLED_SSE + 1
            assert before[("pollbench_open_push_connections", "ws")] == STALLED_WS
            reading = asyncio.create_task(reader.run(stream))
            await post_all(session, server, reader, rss)
            await asyncio.wait_for(reading, 10)
        after = await metrics(session, server.url)

    assert reader.seqs == sorted(reader.seqs) and len(set(reader.seqs)) == N  # everything, in order
    assert after[("pollbench_dropped_slow_consumers_total", "sse")] == STALLED_SSE
    assert after[("pollbench_dropped_slow_consumers_total", "ws")] == STALLED_WS
    assert after[("pollbench_open_push_connections", "ws")] == 0
    gone = await asyncio.gather(*(asyncio.to_thread(was_disconnected, s) for s in stalled))
    for sock in stalled:
        sock.close()
    assert all(gone)
    growth = rss[N] - rss[N // 4]
    mib = {k: v / 2**20 for k, v in rss.items()}
    print(f"RSS {mib} MiB, growth {growth / 2**20:.1f} MiB (bound {RSS_BOUND / 2**20:.1f} MiB)")
    assert growth < RSS_BOUND


# -- resumption after the cut-off --------------------------------------------------------------------------
COMPLETE_EVENT = re.compile(rb"id: (\d+)\nevent: message\ndata: [^\n]*\n\n")
"""One whole SSE event (the stream is chunked, each event one chunk: chunk-size lines sit between them)."""


def read_events(sock: socket.socket, count: int | None) -> list[int]:
    """Ids of the next ``count`` events (None: all still readable on a connection the server cut off; after
    a TCP reset the kernel may have discarded what was buffered)."""
    data = b""
    try:
        while count is None or len(COMPLETE_EVENT.findall(data)) < count:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    return [int(seq) for seq in COMPLETE_EVENT.findall(data)]


async def test_a_consumer_cut_off_for_not_reading_resumes_by_cursor_without_loss(tmp_path):
    cfg = ServerConfig(
        db_path=str(tmp_path / "c.db"),
        seed_customers=1,
        orders_per_customer=1,
        seed_admins=1,
        messages_per_order=0,
        push_queue_max=8,
        secret="s",
    )
    authority = TokenAuthority("s")
    customer = authority.issue(id="c1", role="customer", name="Customer 1", ttl_s=600)
    admin = {"Authorization": "Bearer " + authority.issue(id="a1", role="admin", name="A", ttl_s=600)}
    body = {"orderId": "o1", "content": CONTENT}
    async with running_server(cfg) as url, aiohttp.ClientSession() as session:
        sock = await asyncio.to_thread(stalled_sse, url, customer)
        posted: list[int] = []
        for _ in range(3):  # the consumer reads these, so it holds a cursor, then stops reading
            async with session.post(f"{url}/api/messages", json=body, headers=admin) as resp:
                posted.append((await resp.json())["message"]["seq"])
        early = await asyncio.to_thread(read_events, sock, 3)
        assert early == posted
        while len(posted) < 1000:  # bounded: the cut-off comes after the queue and the socket buffers fill
            async with session.post(f"{url}/api/messages", json=body, headers=admin) as resp:
                posted.append((await resp.json())["message"]["seq"])
            if (
                len(posted) % 8 == 0
                and (await metrics(session, url))[("pollbench_dropped_slow_consumers_total", "sse")]
            ):
                break
        got = early + await asyncio.to_thread(read_events, sock, None)
        sock.close()
        assert len(got) < len(posted), "the consumer was never cut off"
        resume = {"Authorization": f"Bearer {customer}", "Last-Event-ID": str(got[-1])}
        async with session.get(f"{url}/api/stream", params={"orderId": "o1"}, headers=resume) as stream:
            rest: list[int] = []
            async with asyncio.timeout(10):
                while len(got) + len(rest) < len(posted):
                    line = await stream.content.readline()
                    if line.startswith(b"id: "):
                        rest.append(int(line[4:]))
    print(f"posted {len(posted)}, read before the cut-off {len(got)}, after resuming {len(rest)}")
    assert got + rest == posted  # nothing lost, nothing twice, in order
