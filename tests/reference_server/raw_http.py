"""A raw HTTP/1.1 client for bad-input tests: it sends exactly the bytes given (which no HTTP library will
produce: lying Content-Length, bytes 0x80-0xFF in the request line, 100 KiB headers) and parses what comes
back."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class RawResponse:
    """One response as read off the socket."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def host_port(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


async def read_response(reader: asyncio.StreamReader) -> RawResponse | None:
    """The next response (a Content-Length body, as this server sends), or None at end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return RawResponse(status=int(status_line.split()[1]), headers=headers, body=body)


async def exchange(
    base_url: str, data: bytes, *, responses: int | None = 1, timeout: float = 5.0
) -> list[RawResponse]:
    """Send ``data`` on a new connection; read ``responses`` responses (None: until the server closes)."""
    reader, writer = await asyncio.open_connection(*host_port(base_url))
    got: list[RawResponse] = []
    try:
        async with asyncio.timeout(timeout):
            writer.write(data)
            await writer.drain()
            while responses is None or len(got) < responses:
                try:
                    resp = await read_response(reader)
                except ConnectionResetError:
                    break
                if resp is None:
                    break
                got.append(resp)
    finally:
        writer.close()
    return got


def request_bytes(
    method: str, target: bytes, headers: dict[str, bytes] | None = None, body: bytes = b""
) -> bytes:
    """A request in bytes; the caller controls every byte of the target, header values and body."""
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [name.encode() + b": " + value for name, value in (headers or {}).items()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
