"""A bounded cache of encoded response bodies, keyed by their strong ETag.

Equal ETags mean byte-equal bodies (see ``orderbook.py``), so a body built once can be served to every
poller that asks for the same state: the full-poll body of an order is read from SQLite and encoded once
per change instead of once per poll. Eviction is first-in-first-out, which costs nothing on a hit (an LRU
would reorder on every hit, on the hot path); a stale entry is harmless, as no live ETag names it.
"""

from __future__ import annotations

__all__ = ["BodyCache"]


class BodyCache:
    """At most `capacity` bodies; the oldest entry leaves first."""

    __slots__ = ("_bodies", "capacity")

    def __init__(self, capacity: int = 4096) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._bodies: dict[str, bytes] = {}

    def get(self, etag: str) -> bytes | None:
        return self._bodies.get(etag)

    def put(self, etag: str, body: bytes) -> None:
        bodies = self._bodies
        if len(bodies) >= self.capacity and etag not in bodies:
            del bodies[next(iter(bodies))]
        bodies[etag] = body

    def __len__(self) -> int:
        return len(self._bodies)
