"""Wire bytes: every figure is a real exchange, and the parts add up to what a raw socket sees."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from loadtests.calibrate_plan import make_plan
from loadtests.calibrate_server import Target, attach
from loadtests.calibrate_wire import measure_wire
from loadtests.server_process import ServerOptions, ServerProcess


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    options = ServerOptions(
        customers=3, orders_per_customer=3, admins=1, workdir=tmp_path_factory.mktemp("s")
    )
    with ServerProcess(options) as proc:
        yield attach(proc.base_url, proc.fixtures)


@pytest.fixture(scope="module")
def wire(target: Target) -> dict[str, int]:
    return measure_wire(target, make_plan(target))


def _raw_head(target: Target, request: bytes) -> bytes:
    with socket.create_connection((target.host, target.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
    return data


def test_a_304_is_exactly_the_response_headers(target: Target, wire: dict[str, int]) -> None:
    """Measured independently on a raw socket: the 304's bytes equal the calibrated response_headers."""
    plan = make_plan(target)
    listed = _raw_head(target, plan.get("/api/orders", plan.reader))
    etag = next(
        line.split(b":", 1)[1].strip() for line in listed.split(b"\r\n") if line.lower().startswith(b"etag")
    )
    request = plan.get("/api/orders", plan.reader, If_None_Match=etag.decode())
    answer = _raw_head(target, request)
    assert answer.startswith(b"HTTP/1.1 304")
    assert len(answer) == wire["response_headers"]
    assert len(request) == wire["request"]


def test_a_full_poll_is_about_2kb(target: Target, wire: dict[str, int]) -> None:
    plan = make_plan(target)
    order = plan.reader.orders[0]
    body = json.loads(_raw_full(target, plan.messages(plan.reader, order)))
    assert len(body["messages"]) == 8
    assert 1800 < wire["full_messages_body"] < 3000


def _raw_full(target: Target, request: bytes) -> bytes:
    with socket.create_connection((target.host, target.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        while len(body) < length:
            body += sock.recv(65536)
    return body


def test_push_framing_is_small_and_positive(wire: dict[str, int]) -> None:
    """SSE: id/event/data lines and chunk framing; WebSocket: frame header and the message envelope."""
    assert 20 < wire["sse_event_overhead"] < 80
    assert 20 < wire["ws_frame_overhead"] < 60
    assert wire["sse_connect"] > wire["response_headers"]
    assert wire["ws_connect"] > wire["response_headers"]
