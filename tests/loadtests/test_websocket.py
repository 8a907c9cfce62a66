"""WebSocket framing: sizes on the wire, masking, and a frame read back through a real socket pair."""

from __future__ import annotations

import socket
import struct

import pytest

from loadtests.websocket import OP_PING, OP_TEXT, WebSocketClient, _mask, encode_frame
from loadtests.wire import HttpConnection


@pytest.mark.parametrize(("size", "header"), [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)])
def test_server_frame_header_size_depends_on_payload_length(size: int, header: int) -> None:
    assert len(encode_frame(OP_TEXT, b"x" * size)) == size + header


def test_client_frames_carry_a_mask_key_and_masked_payload() -> None:
    key = b"\x01\x02\x03\x04"
    frame = encode_frame(OP_TEXT, b"hello", mask_key=key)
    assert frame[1] & 0x80 and len(frame) == 2 + 4 + 5
    assert _mask(frame[6:], key) == b"hello"


def _client_over_socketpair() -> tuple[WebSocketClient, socket.socket]:
    a, b = socket.socketpair()
    conn = HttpConnection("127.0.0.1", 0, timeout=5)
    conn._sock = a  # an already-open socket: the frames below bypass the HTTP handshake
    return WebSocketClient(conn), b


def test_receive_answers_a_ping_then_returns_the_text_message() -> None:
    ws, peer = _client_over_socketpair()
    ping = encode_frame(OP_PING, b"p")
    text = encode_frame(OP_TEXT, b'{"type": "message"}')
    peer.sendall(ping + text)
    frame = ws.receive()
    assert frame.payload == b'{"type": "message"}'
    assert frame.wire_bytes == len(ping) + len(text)
    assert ws.conn.received == len(ping) + len(text)
    pong = peer.recv(100)
    assert pong[0] == 0x8A and _mask(pong[6:], pong[2:6]) == b"p"
    assert ws.conn.sent == len(pong)
    peer.close()


def test_fragmented_message_is_reassembled() -> None:
    ws, peer = _client_over_socketpair()
    first = bytes([0x01, 3]) + b"abc"  # text, not final
    last = bytes([0x80, 3]) + b"def"  # continuation, final
    peer.sendall(first + last)
    assert ws.receive().payload == b"abcdef"
    peer.close()


def test_close_frame_from_the_server_ends_the_connection() -> None:
    ws, peer = _client_over_socketpair()
    peer.sendall(encode_frame(0x8, struct.pack("!H", 1000)))
    with pytest.raises(ConnectionError):
        ws.receive()
    assert not ws.conn.is_open
    peer.close()
