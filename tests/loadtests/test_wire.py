"""Byte accounting: the client's counters equal the bytes a real server socket saw and sent."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from loadtests.wire import HttpConnection, HttpError, StreamResponse

RESPONSES = {
    b"/plain": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n"
    b'ETag: "abc"\r\n\r\n{"ok": true}\n',
    b"/etag": b'HTTP/1.1 304 Not Modified\r\nETag: "abc"\r\n\r\n',
    b"/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n",
}


class RecordingServer:
    """A raw TCP server that answers canned HTTP responses and records every byte both ways."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self.sent = bytearray()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        buf = b""
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                self.received += data
                buf += data
                while b"\r\n\r\n" in buf:
                    head, _, rest = buf.partition(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    if len(rest) < length:
                        break
                    buf = rest[length:]
                    target = head.split(b" ")[1]
                    reply = RESPONSES.get(target, RESPONSES[b"/plain"])
                    conn.sendall(reply)
                    self.sent += reply


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    s = RecordingServer()
    yield s
    s.sock.close()


def test_counters_equal_what_the_server_saw_and_sent(server: RecordingServer) -> None:
    conn = HttpConnection("127.0.0.1", server.port, timeout=5)
    responses = [
        conn.request("GET", "/plain", {"Authorization": "Bearer x"}),
        conn.request("GET", "/etag", {"If-None-Match": '"abc"'}),
        conn.request("POST", "/plain", {"Content-Type": "application/json"}, b'{"content": "hi"}'),
        conn.request("GET", "/chunked", {}),
    ]
    conn.close()
    server.thread.join(timeout=5)
    assert conn.sent == len(server.received) == sum(r.sent for r in responses)
    assert conn.received == len(server.sent) == sum(r.received for r in responses)
    assert conn.connects == 1


def test_each_exchange_counts_head_and_body(server: RecordingServer) -> None:
    conn = HttpConnection("127.0.0.1", server.port, timeout=5)
    r = conn.request("GET", "/plain", {})
    assert r.status == 200 and r.body == b'{"ok": true}\n' and r.headers["etag"] == '"abc"'
    assert r.received == len(RESPONSES[b"/plain"]) > len(r.body)
    conn.close()


def test_not_modified_has_no_body_but_costs_its_headers(server: RecordingServer) -> None:
    conn = HttpConnection("127.0.0.1", server.port, timeout=5)
    r = conn.request("GET", "/etag", {})
    assert r.status == 304 and r.body == b"" and r.received == len(RESPONSES[b"/etag"])
    conn.close()


def test_chunked_body_is_decoded_and_framing_counted(server: RecordingServer) -> None:
    conn = HttpConnection("127.0.0.1", server.port, timeout=5)
    r = conn.request("GET", "/chunked", {})
    assert r.body == b"hello, world"
    assert r.received == len(RESPONSES[b"/chunked"])
    conn.close()


def test_stream_yields_chunk_data_as_it_arrives(server: RecordingServer) -> None:
    conn = HttpConnection("127.0.0.1", server.port, timeout=5)
    stream = StreamResponse(conn, "GET", "/chunked", {})
    assert stream.status == 200
    assert list(stream.iter_data()) == [b"hello", b", world"]
    conn.close()


def test_server_closing_the_connection_is_an_http_error() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def close_at_once() -> None:
        c, _ = listener.accept()
        c.recv(1024)
        c.close()

    t = threading.Thread(target=close_at_once, daemon=True)
    t.start()
    conn = HttpConnection("127.0.0.1", port, timeout=5)
    with pytest.raises(HttpError):
        conn.request("GET", "/", {})
    assert not conn.is_open
    listener.close()
