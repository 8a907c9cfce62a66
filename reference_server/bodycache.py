"""A bounded cache of encoded response bodies, keyed by their strong ETag.

Equal ETags mean byte-equal bodies (see ``orderbook.py``), so a body built once can be served to every
poller that asks for the same state: the full-poll body of an order is read from SQLite and encoded once
per change instead of once per poll, and a caller's order list is built once per change of its badges.
Eviction is first-in-first-out, which costs nothing on a hit (an LRU would reorder on every hit, on the hot
path); a stale entry is harmless, as no live ETag names it.

Bounded twice: by entry count and by total bytes, because one entry can be large (an admin's order list
names every order; a long conversation's full poll holds all of it).
"""

from __future__ import annotations

__all__ = ["BodyCache"]


class BodyCache:
    """At most ``capacity`` bodies and ``max_bytes`` bytes of them; the oldest entry leaves first. A body
    larger than ``max_bytes`` alone is not kept."""

    __slots__ = ("_bodies", "_bytes", "capacity", "max_bytes")

    def __init__(self, capacity: int = 4096, max_bytes: int = 64 * 1024 * 1024) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._bodies: dict[str, bytes] = {}
        self._bytes = 0

    def get(self, etag: str) -> bytes | None:
        return self._bodies.get(etag)

    def put(self, etag: str, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        bodies = self._bodies
        old = bodies.pop(etag, None)
        if old is not None:
            self._bytes -= len(old)
        while bodies and (len(bodies) >= self.capacity or self._bytes + len(body) > self.max_bytes):
            self._bytes -= len(bodies.pop(next(iter(bodies))))
        bodies[etag] = body
        self._bytes += len(body)

    @property
    def bytes(self) -> int:
        """Total size of the bodies held."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._bodies)
