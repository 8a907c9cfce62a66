"""Server-Sent Events: turning a byte stream into events, as a browser's EventSource does.

The stream is UTF-8 text in lines ending with LF, CR or CRLF. Lines ``field: value`` build up an
event; a blank line dispatches it. ``data`` lines are joined with newlines, ``id`` sets the
last-event-id (sent back as ``Last-Event-ID`` on reconnect), ``retry`` sets the reconnection delay, and
lines starting with ``:`` are comments (the server's heartbeats). The parser is incremental: bytes
can arrive split anywhere, even inside a UTF-8 character or between CR and LF.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SseEvent", "SseParser"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SseEvent:
    """One dispatched event."""

    event: str
    """Event type (``message`` when the stream gives none)."""
    data: str
    """The data lines joined with newlines."""
    id: str | None
    """The last event id in effect when this event was dispatched."""
    wire_bytes: int
    """Bytes of the stream from the end of the previous event to the end of this one (comments included)."""


class SseParser:
    """Feed bytes, get complete events; remembers the last event id and retry delay across events."""

    def __init__(self) -> None:
        self.last_event_id: str | None = None
        self.retry_ms: int | None = None
        self.comments = 0
        """Comment lines seen (heartbeats)."""
        self._pending = b""
        self._skip_lf = False
        self._event = ""
        self._data: list[str] = []
        self._bytes = 0

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Parse `chunk` and return the events it completed, in order."""
        events: list[SseEvent] = []
        self._bytes += len(chunk)
        buf = self._pending + chunk
        start = 0
        n = len(buf)
        i = 0
        if self._skip_lf and n and buf[0:1] == b"\n":
            start = i = 1
        self._skip_lf = False
        while i < n:
            c = buf[i]
            if c == 0x0A or c == 0x0D:
                line = buf[start:i]
                if c == 0x0D:
                    if i + 1 < n:
                        if buf[i + 1] == 0x0A:
                            i += 1
                    else:
                        self._skip_lf = True
                i += 1
                start = i
                event = self._line(line.decode("utf-8", errors="replace"))
                if event is not None:
                    events.append(self._dispatched(event, consumed_tail=n - i))
                continue
            i += 1
        self._pending = buf[start:]
        return events

    def _dispatched(self, event: tuple[str, str], *, consumed_tail: int) -> SseEvent:
        # Bytes still unparsed in this chunk belong to the next event.
        size = self._bytes - consumed_tail
        self._bytes = consumed_tail
        return SseEvent(event=event[0], data=event[1], id=self.last_event_id, wire_bytes=size)

    def _line(self, line: str) -> tuple[str, str] | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> tuple[str, str] | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None  # per the spec, an event without data is not dispatched
        return (event or "message", "\n".join(data))
