"""A byte-counting HTTP/1.1 client: what a load-test client really puts on the wire and gets back.

Locust's clients report body sizes; pollbench reports bytes on the wire, because a 304 poll is almost all
headers. :class:`HttpConnection` speaks HTTP/1.1 over one keep-alive socket and counts every byte it writes
(request line, headers, body) and reads (status line, headers, body, chunk framing). It is plain
``socket`` code: inside Locust, gevent has patched ``socket`` so it is cooperative; outside Locust (tests,
benchmarks) it is an ordinary blocking client.

Not counted: TCP/IP packet headers and the TCP handshake (about 40-60 bytes per packet), and TLS, because
the reference server is measured on loopback without TLS. ``docs/loadtests.md`` says so.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

__all__ = ["HttpConnection", "HttpError", "Response", "StreamResponse", "request_head"]

_NO_BODY_STATUSES = frozenset({204, 304})
_RECV_SIZE = 65536


class HttpError(ConnectionError):
    """The server closed the connection or sent something that is not HTTP/1.1."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """One complete response and what its exchange cost on the wire."""

    status: int
    """HTTP status code."""
    headers: dict[str, str]
    """Response headers, names lower-cased."""
    body: bytes
    """The decoded body (chunked framing removed)."""
    sent: int
    """Wire bytes of the request: request line, headers and body."""
    received: int
    """Wire bytes of the response: status line, headers, body and any chunk framing."""


def request_head(
    method: str, target: str, host: str, headers: Mapping[str, str], body_len: int | None
) -> bytes:
    """The request line and headers exactly as sent (HTTP/1.1, keep-alive)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    if body_len is not None:
        lines.append(f"Content-Length: {body_len}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class HttpConnection:
    """One keep-alive HTTP/1.1 connection that counts the bytes it sends and receives.

    Requests on one connection are sequential, as in HTTP/1.1 without pipelining; the counters
    (:attr:`sent`, :attr:`received`) only ever grow, so callers can take deltas around anything.
    """

    def __init__(self, host: str, port: int, *, timeout: float = 30.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.host_header = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        self.sent = 0
        self.received = 0
        self.connects = 0
        self._sock: socket.socket | None = None
        self._buf = bytearray()

    # -- socket -------------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def connect(self) -> None:
        """Open the TCP connection if it is not open yet."""
        if self._sock is None:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            self._buf.clear()
            self.connects += 1

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._buf.clear()

    def settimeout(self, timeout: float | None) -> None:
        """Change the read timeout of the open socket (long-polls wait longer than ordinary requests)."""
        if self._sock is not None:
            self._sock.settimeout(timeout)

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are, counted (used for WebSocket frames after the upgrade)."""
        self.connect()
        assert self._sock is not None
        try:
            self._sock.sendall(data)
        except OSError:
            self.close()
            raise
        self.sent += len(data)

    def _fill(self) -> None:
        assert self._sock is not None
        try:
            chunk = self._sock.recv(_RECV_SIZE)
        except OSError:
            self.close()
            raise
        if not chunk:
            self.close()
            raise HttpError("connection closed by the server")
        self.received += len(chunk)
        self._buf += chunk

    def read_exact(self, n: int) -> bytes:
        """Exactly `n` bytes from the connection (buffered bytes first)."""
        while len(self._buf) < n:
            self._fill()
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def read_some(self) -> bytes:
        """Whatever is buffered, or the next bytes that arrive."""
        if not self._buf:
            self._fill()
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def _read_line(self) -> bytes:
        while True:
            end = self._buf.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buf[:end])
                del self._buf[: end + 2]
                return line
            self._fill()

    # -- HTTP ---------------------------------------------------------------------------------------
    def send_request(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes | None = None
    ) -> int:
        """Send one request; returns its wire size. Reconnects first if the connection was closed."""
        self.connect()
        head = request_head(method, target, self.host_header, headers, None if body is None else len(body))
        data = head + body if body else head
        self.send_raw(data)
        return len(data)

    def read_head(self) -> tuple[int, dict[str, str]]:
        """Read the status line and headers of the next response."""
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            self._fill()
        raw = bytes(self._buf[:end]).decode("latin-1")
        del self._buf[: end + 4]
        status_line, _, rest = raw.partition("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            self.close()
            raise HttpError(f"not an HTTP/1.1 status line: {status_line[:80]!r}")
        headers: dict[str, str] = {}
        for line in rest.split("\r\n") if rest else ():
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers

    def read_body(self, status: int, headers: Mapping[str, str]) -> bytes:
        """The complete body of a response whose head was just read."""
        if status in _NO_BODY_STATUSES or 100 <= status < 200:
            return b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return b"".join(self.iter_chunks())
        length = headers.get("content-length")
        if length is not None:
            return self.read_exact(int(length))
        # No length and not chunked: the body runs to the end of the connection.
        body = bytearray()
        try:
            while True:
                self._fill()
                body += self._buf
                self._buf.clear()
        except HttpError:
            return bytes(body)

    def iter_chunks(self) -> Iterator[bytes]:
        """Decoded data of a chunked body as it arrives; ends after the last (zero) chunk."""
        while True:
            size_line = self._read_line()
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self._read_line():  # trailers, then the blank line
                    pass
                return
            data = self.read_exact(size)
            self.read_exact(2)  # CRLF after the chunk data
            yield data

    def request(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes | None = None
    ) -> Response:
        """One request/response exchange on this connection, with its wire sizes."""
        before = self.received
        sent = self.send_request(method, target, headers, body)
        status, resp_headers = self.read_head()
        data = self.read_body(status, resp_headers)
        if resp_headers.get("connection", "").lower() == "close":
            self.close()
        return Response(
            status=status, headers=resp_headers, body=data, sent=sent, received=self.received - before
        )


class StreamResponse:
    """A streaming response (Server-Sent Events): the head, then body data as it arrives."""

    def __init__(self, conn: HttpConnection, method: str, target: str, headers: Mapping[str, str]) -> None:
        self.conn = conn
        self.sent = conn.send_request(method, target, headers)
        self.status, self.headers = conn.read_head()

    def iter_data(self) -> Iterator[bytes]:
        """Body bytes as they arrive, chunk framing removed; ends when the server ends the stream."""
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            yield from self.conn.iter_chunks()
            return
        try:
            while True:
                yield self.conn.read_some()
        except HttpError:
            return
