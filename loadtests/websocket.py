"""A minimal WebSocket client (RFC 6455) on a byte-counting connection.

The handshake is an ordinary HTTP/1.1 request upgraded with 101; after it, the same
:class:`~loadtests.wire.HttpConnection` carries frames, so every byte of the handshake, every frame
header, mask key and payload is counted. Client frames are masked (the RFC requires it), server frames
are not. The client answers pings with pongs, sends its own keepalive pings, and reassembles fragmented
messages. No extensions are offered, so the server never compresses.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from loadtests.wire import HttpConnection, HttpError

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "WebSocketClient",
    "WsFrame",
    "encode_frame",
]

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass(frozen=True, slots=True, kw_only=True)
class WsFrame:
    """One received data message (text or binary), reassembled from its fragments."""

    opcode: int
    payload: bytes
    wire_bytes: int
    """Bytes of every frame that carried it, headers included."""


def encode_frame(opcode: int, payload: bytes, *, mask_key: bytes | None = None) -> bytes:
    """One final frame; masked with `mask_key` (4 bytes) when given, as a client must."""
    head = bytearray([0x80 | opcode])
    mask_bit = 0x80 if mask_key is not None else 0
    n = len(payload)
    if n < 126:
        head.append(mask_bit | n)
    elif n < 65536:
        head.append(mask_bit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(mask_bit | 127)
        head += struct.pack("!Q", n)
    if mask_key is None:
        return bytes(head) + payload
    return bytes(head) + mask_key + _mask(payload, mask_key)


def _mask(payload: bytes, key: bytes) -> bytes:
    if not payload:
        return b""
    # XOR with the repeated key, done on big integers: far faster in Python than a per-byte loop.
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(payload), "big")


class WebSocketClient:
    """A WebSocket client over one counted connection; call :meth:`handshake`, then send/receive."""

    def __init__(self, conn: HttpConnection) -> None:
        self.conn = conn
        self.pings_received = 0
        self.closed = False
        # Pongs go out from the reading greenlet, keepalive pings from another: frames must not interleave.
        self._send_lock = threading.Lock()

    def handshake(self, target: str, headers: Mapping[str, str] | None = None) -> int:
        """Upgrade the connection; returns the handshake's wire bytes (both ways)."""
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        all_headers = {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": key,
            "Sec-WebSocket-Version": "13",
            **(headers or {}),
        }
        before_sent, before_recv = self.conn.sent, self.conn.received
        self.conn.send_request("GET", target, all_headers)
        status, resp_headers = self.conn.read_head()
        if status != 101:
            body = self.conn.read_body(status, resp_headers)
            raise HttpError(f"WebSocket upgrade refused: HTTP {status} {body[:200]!r}")
        expected = base64.b64encode(hashlib.sha1((key + _GUID).encode("ascii")).digest()).decode("ascii")
        if resp_headers.get("sec-websocket-accept") != expected:
            raise HttpError("WebSocket upgrade answered with a wrong Sec-WebSocket-Accept")
        return (self.conn.sent - before_sent) + (self.conn.received - before_recv)

    def send(self, opcode: int, payload: bytes) -> int:
        """Send one masked frame; returns its wire size."""
        frame = encode_frame(opcode, payload, mask_key=os.urandom(4))
        with self._send_lock:
            self.conn.send_raw(frame)
        return len(frame)

    def send_text(self, text: str) -> int:
        return self.send(OP_TEXT, text.encode("utf-8"))

    def _read_frame(self) -> tuple[bool, int, bytes, int]:
        b0, b1 = self.conn.read_exact(2)
        size = 2
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.conn.read_exact(2))[0]
            size += 2
        elif n == 127:
            n = struct.unpack("!Q", self.conn.read_exact(8))[0]
            size += 8
        key = None
        if b1 & 0x80:  # servers must not mask, but tolerate it
            key = self.conn.read_exact(4)
            size += 4
        payload = self.conn.read_exact(n) if n else b""
        if key is not None:
            payload = _mask(payload, key)
        return bool(b0 & 0x80), b0 & 0x0F, payload, size + n

    def receive(self) -> WsFrame:
        """The next data message; answers pings on the way. Raises HttpError when the server closes."""
        fragments: list[bytes] = []
        opcode = OP_TEXT
        wire = 0
        while True:
            fin, op, payload, size = self._read_frame()
            wire += size
            if op == OP_PING:
                self.pings_received += 1
                self.send(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                if not self.closed:
                    self.closed = True
                    self.send(OP_CLOSE, payload[:2])
                self.conn.close()
                raise HttpError("WebSocket closed by the server")
            if op != OP_CONT:
                opcode = op
            fragments.append(payload)
            if fin:
                return WsFrame(opcode=opcode, payload=b"".join(fragments), wire_bytes=wire)

    def close(self) -> None:
        """Send a normal close frame (1000) and drop the connection."""
        if not self.closed and self.conn.is_open:
            self.closed = True
            try:
                self.send(OP_CLOSE, struct.pack("!H", 1000))
            except OSError:
                pass
        self.conn.close()
