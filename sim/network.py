"""Network: each client's round-trip time and the bytes every exchange puts on the wire.

RTTs are lognormal across clients around a median (a few slow mobile clients, most fast). A request reaches
the server half an RTT after the client sends it and the answer reaches the client half an RTT after the
server finishes. Bytes count HTTP/1.1 request and status lines and headers, not TCP/IP framing.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from sim.calibration import WireBytes

__all__ = ["client_rtts", "full_get_bytes", "orders_get_bytes", "since_get_bytes"]


def client_rtts(
    rng: np.random.Generator, clients: int, median_ms: float, sigma: float
) -> npt.NDArray[np.float64]:
    """One round-trip time per client, seconds: lognormal with the given median and log-sigma."""
    return (median_ms / 1000.0) * np.exp(sigma * rng.standard_normal(clients))


def orders_get_bytes(wire: WireBytes, *, changed: bool, orders: int) -> int:
    """GET /api/orders with If-None-Match: a 304 of headers only, or the full list when something changed."""
    body = wire.orders_list_body_per_order * orders if changed else 0
    return wire.request + wire.response_headers + body


def since_get_bytes(wire: WireBytes, *, messages: int, text_bytes: int) -> int:
    """GET /api/messages?since=CURSOR answering `messages` new messages of `text_bytes` text in total."""
    return (
        wire.request
        + wire.response_headers
        + wire.since_envelope
        + messages * wire.message_overhead
        + text_bytes
    )


def full_get_bytes(wire: WireBytes, conversation_bytes: float = 0.0) -> float:
    """The seed's full GET /api/messages?orderId=X: the calibrated ~2 KB body plus `conversation_bytes`, the
    JSON of the messages the conversation holds beyond it (``Scenario.conversation_messages``)."""
    return wire.request + wire.response_headers + wire.full_messages_body + conversation_bytes
