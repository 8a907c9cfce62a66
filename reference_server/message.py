"""A chat message as the seed's dashboards see it, and its wire form.

``seq`` is the store-wide commit order (strictly increasing, never reused) and is the cursor clients resume
from. ``createdAt`` is the server's commit time in UTC with milliseconds. ``_id`` is derived from both, in the
24-hex-digit shape of a MongoDB ObjectId (seconds then sequence), so the seed's clients find what they expect.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reference_server.auth import Role

__all__ = ["Message", "format_timestamp", "message_id"]


def format_timestamp(ms: int) -> str:
    """``2026-11-26T10:00:00.123Z`` for a unix time in milliseconds."""
    seconds, millis = divmod(ms, 1000)
    return f"{_second(seconds)}.{millis:03d}Z"


@functools.lru_cache(maxsize=256)
def _second(seconds: int) -> str:
    # Messages committed together share their second; formatting a datetime is the slow part of encoding.
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}"


def message_id(seq: int, created_ms: int) -> str:
    """An ObjectId-shaped id: 8 hex digits of commit second, 16 of seq."""
    return f"{created_ms // 1000:08x}{seq:016x}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One committed message."""

    seq: int
    """Store-wide commit sequence number, the resumption cursor."""
    order_id: str
    """The order this conversation belongs to."""
    sender_type: Role
    """``customer`` or ``admin``, taken from the sender's token."""
    sender_name: str
    """Display name from the sender's token."""
    content: str
    """The text, 1..4000 characters."""
    is_read: bool
    """Whether the other party has marked it read."""
    created_ms: int
    """Commit time, unix milliseconds."""

    def to_json(self) -> dict[str, Any]:
        """The API form, field names exactly as in the seed."""
        return {
            "_id": message_id(self.seq, self.created_ms),
            "orderId": self.order_id,
            "senderType": self.sender_type,
            "senderName": self.sender_name,
            "content": self.content,
            "isRead": self.is_read,
            "createdAt": format_timestamp(self.created_ms),
            "seq": self.seq,
        }

    def dumps(self) -> str:
        """Compact JSON text of ``to_json()``."""
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False)
