"""The durable store: orders and their messages in SQLite, behind a small interface a PostgreSQL backend
can implement later.

Durability. ``synchronous=FULL`` in WAL mode: every COMMIT fsyncs the WAL, so a 201 really means the message
is on disk. The fsync is the expensive part, so writes go through *group commit*: messages posted while a
commit is in flight are queued and committed together in the next transaction, one fsync for the lot. Writes
run on one dedicated thread so the event loop never waits on the disk.

Access paths. The hot path (polls that find nothing new, ETag 304s, the order list) never reaches SQLite at
all: ``orderbook.py`` keeps per-order cursors and counters in memory. SQLite is read only when there are rows
to return: ``orderId = ? AND seq > ?`` on the (orderId, seq) index, a range scan that touches exactly the rows
returned. Those reads run synchronously on the event loop from a second connection: in WAL mode readers never
wait for the writer, and an indexed read of a few rows (tens of microseconds) costs less than a thread hop.
The seed's indexes are kept too: (orderId, createdAt) and (senderType, isRead), plus createdAt for pruning,
the seed's 30-day TTL index.

``createdAt`` is stored as integer unix milliseconds (formatted on the way out) and is forced to be
non-decreasing in ``seq`` order, so "newest" means the same thing by either column.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from reference_server.auth import Role
from reference_server.message import Message

__all__ = ["CountRow", "NewMessage", "SQLiteStore", "Store", "StoreError"]

T = TypeVar("T")
Observe = Callable[[str, float], None]

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    orderId    TEXT PRIMARY KEY,
    customerId TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_customer ON orders (customerId);
CREATE TABLE IF NOT EXISTS messages (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    orderId    TEXT NOT NULL REFERENCES orders (orderId),
    senderType TEXT NOT NULL CHECK (senderType IN ('customer', 'admin')),
    senderName TEXT NOT NULL,
    content    TEXT NOT NULL,
    isRead     INTEGER NOT NULL DEFAULT 0,
    createdAt  INTEGER NOT NULL,
    wire       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS messages_order_seq ON messages (orderId, seq);
CREATE INDEX IF NOT EXISTS messages_order_created ON messages (orderId, createdAt);
CREATE INDEX IF NOT EXISTS messages_sender_read ON messages (senderType, isRead);
CREATE INDEX IF NOT EXISTS messages_created ON messages (createdAt);
CREATE TABLE IF NOT EXISTS message_keys (
    senderId        TEXT NOT NULL,
    orderId         TEXT NOT NULL,
    clientMessageId TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    createdAt       INTEGER NOT NULL,
    PRIMARY KEY (senderId, orderId, clientMessageId)
) WITHOUT ROWID;
"""

COLUMNS = "seq, orderId, senderType, senderName, content, isRead, createdAt"

# The poll path's wire form. Each row stores its own JSON as committed (``wire``, with "isRead":false), so a
# poll copies text out of SQLite instead of building objects: about 4x cheaper than decoding columns into
# Messages and json.dumps-ing them, which matters because the full poll is the seed's every-3-seconds
# request. Read messages swap the one flag; the replace cannot hit message text, because inside a JSON
# string every quote is escaped (\"), so an unescaped '"isRead":false' only occurs as the real field.
WIRE = """CASE isRead WHEN 0 THEN wire ELSE replace(wire, '"isRead":false', '"isRead":true') END"""


class StoreError(Exception):
    """The database cannot be opened or used (bad path, not a pollbench database, disk full)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NewMessage:
    """A message to commit; seq and createdAt are assigned at commit."""

    order_id: str
    """Target order (must exist)."""
    sender_type: Role
    """From the sender's token."""
    sender_name: str
    """From the sender's token."""
    content: str
    """Validated text."""
    sender_id: str = ""
    """The sender's id (from the token): with ``client_message_id`` it names one logical post."""
    client_message_id: str | None = None
    """The client's idempotency key: a retried POST with the same key returns the message already stored."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CountRow:
    """Per-order, per-sender-type aggregates used to rebuild the in-memory order book."""

    order_id: str
    """The order."""
    sender_type: Role
    """Whose messages are counted."""
    total: int
    """How many messages that party sent."""
    unread: int
    """How many of them are not yet read by the other party."""
    max_seq: int
    """Highest seq among them."""


class Store(Protocol):
    """What the server needs from a database."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    def orders(self) -> list[tuple[str, str]]: ...
    def counts(self) -> list[CountRow]: ...
    def last_seq(self) -> int: ...
    async def add_orders(self, orders: Sequence[tuple[str, str]]) -> list[str]: ...
    async def insert(self, messages: Sequence[NewMessage]) -> list[Message]: ...
    async def insert_once(self, message: NewMessage) -> tuple[Message, bool]: ...
    async def mark_read(self, order_id: str, sender_type: Role) -> int: ...
    async def prune(self, older_than_ms: int) -> int: ...
    def since(self, order_ids: Sequence[str] | None, since: int, limit: int = -1) -> list[Message]: ...
    def since_json(self, order_id: str, since: int, upto: int) -> list[str]: ...
    def ping(self) -> bool: ...


def _insert_rows(
    conn: sqlite3.Connection, now_ms: int, messages: Sequence[NewMessage]
) -> list[tuple[Message, bool]]:
    """Insert `messages` in the writer's transaction; a keyed one stored before comes back as (it, False)."""
    # seq is assigned here rather than read back after each INSERT, so the wire JSON (which contains
    # it) goes in with the row in one statement. Safe: the writer holds SQLite's write lock
    # (BEGIN IMMEDIATE), and sqlite_sequence is AUTOINCREMENT's high-water mark, so a seq is never
    # reused even after the newest rows were pruned.
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").fetchone()
    seq = int(row[0]) if row else 0
    out: list[tuple[Message, bool]] = []
    rows: list[tuple[Any, ...]] = []
    keys: list[tuple[Any, ...]] = []
    batch: dict[tuple[str, str, str], Message] = {}  # keys first used in this very batch
    for m in messages:
        key = None if m.client_message_id is None else (m.sender_id, m.order_id, m.client_message_id)
        if key is not None:
            earlier = batch.get(key) or _stored(conn, key)
            if earlier is not None:
                out.append((earlier, False))
                continue
        seq += 1
        message = Message(
            seq=seq,
            order_id=m.order_id,
            sender_type=m.sender_type,
            sender_name=m.sender_name,
            content=m.content,
            is_read=False,
            created_ms=now_ms,
        )
        rows.append((seq, m.order_id, m.sender_type, m.sender_name, m.content, now_ms, message.dumps()))
        if key is not None:
            batch[key] = message
            keys.append((*key, seq, now_ms))
        out.append((message, True))
    conn.executemany(
        "INSERT INTO messages (seq, orderId, senderType, senderName, content, isRead, createdAt, wire) "
        "VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
        rows,
    )
    if keys:
        conn.executemany(
            "INSERT INTO message_keys (senderId, orderId, clientMessageId, seq, createdAt) "
            "VALUES (?, ?, ?, ?, ?)",
            keys,
        )
    return out


def _stored(conn: sqlite3.Connection, key: tuple[str, str, str]) -> Message | None:
    """The message a sender already stored under this (sender, order, client message id), if any."""
    found = conn.execute(
        f"SELECT {COLUMNS} FROM messages WHERE seq = (SELECT seq FROM message_keys "
        "WHERE senderId = ? AND orderId = ? AND clientMessageId = ?)",
        key,
    ).fetchone()
    return None if found is None else _row_to_message(found)


def _row_to_message(row: tuple[Any, ...]) -> Message:
    seq, order_id, sender_type, sender_name, content, is_read, created = row
    return Message(
        seq=seq,
        order_id=order_id,
        sender_type=sender_type,
        sender_name=sender_name,
        content=content,
        is_read=bool(is_read),
        created_ms=created,
    )


class _Pending:
    """One queued write and the future its caller awaits."""

    __slots__ = ("future", "op")

    def __init__(self, op: Callable[[sqlite3.Connection, int], Any], future: asyncio.Future[Any]) -> None:
        self.op = op
        self.future = future


class SQLiteStore:
    """SQLite in WAL mode with group commit on a writer thread; see the module docstring."""

    def __init__(self, path: str, *, observe: Observe | None = None) -> None:
        self._path = path
        self._memory = path == ":memory:"
        self._observe = observe or (lambda op, seconds: None)
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[_Pending] = []
        self._flushing: asyncio.Task[None] | None = None
        self._last_ms = 0

    # -- lifecycle -------------------------------------------------------------------------------
    async def open(self) -> None:
        try:
            self._writer = self._connect(check_same_thread=self._memory)
            self._writer.executescript(SCHEMA)
            last = self._writer.execute("SELECT max(createdAt) FROM messages").fetchone()[0]
            self._last_ms = int(last or 0)
            # :memory: is private to one connection, so reader and writer must be the same one, and writes
            # happen inline (there is no fsync to hide on a thread anyway).
            self._reader = self._writer if self._memory else self._connect(check_same_thread=True)
        except sqlite3.Error as exc:
            await self.close()
            raise StoreError(f"cannot open database {self._path!r}: {exc}") from exc
        if not self._memory:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")

    def _connect(self, *, check_same_thread: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=check_same_thread)
        conn.execute("PRAGMA busy_timeout = 5000")
        if not self._memory:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    async def close(self) -> None:
        if self._flushing is not None:
            await asyncio.shield(self._flushing)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        for conn in {id(c): c for c in (self._reader, self._writer) if c is not None}.values():
            conn.close()
        self._reader = self._writer = None

    # -- reads (event-loop thread) -----------------------------------------------------------------
    def _read(self, op: str, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        conn = self._reader
        if conn is None:
            raise StoreError("the store is closed")
        started = time.perf_counter()
        rows = conn.execute(sql, tuple(params)).fetchall()
        self._observe(op, time.perf_counter() - started)
        return rows

    def orders(self) -> list[tuple[str, str]]:
        """Every (orderId, customerId)."""
        return cast(list[tuple[str, str]], self._read("orders", "SELECT orderId, customerId FROM orders"))

    def counts(self) -> list[CountRow]:
        """Totals, unread counts and max seq per order and sender type."""
        rows = self._read(
            "counts",
            "SELECT orderId, senderType, count(*), sum(isRead = 0), max(seq) FROM messages "
            "GROUP BY orderId, senderType",
        )
        return [CountRow(order_id=o, sender_type=s, total=t, unread=u, max_seq=m) for o, s, t, u, m in rows]

    def last_seq(self) -> int:
        """Highest seq ever assigned (AUTOINCREMENT never reuses one, even after pruning)."""
        rows = self._read("last_seq", "SELECT seq FROM sqlite_sequence WHERE name = 'messages'")
        return int(rows[0][0]) if rows else 0

    def since(self, order_ids: Sequence[str] | None, since: int, limit: int = -1) -> list[Message]:
        """Messages with ``seq > since`` in these orders (all orders if None), ascending seq; at most
        ``limit`` of them (-1: all)."""
        params: list[Any]
        if order_ids is None:
            sql, params = f"SELECT {COLUMNS} FROM messages WHERE seq > ? ORDER BY seq", [since]
        elif len(order_ids) == 1:
            sql = f"SELECT {COLUMNS} FROM messages WHERE orderId = ? AND seq > ? ORDER BY seq"
            params = [order_ids[0], since]
        else:
            marks = ",".join("?" * len(order_ids))
            sql = f"SELECT {COLUMNS} FROM messages WHERE orderId IN ({marks}) AND seq > ? ORDER BY seq"
            params = [*order_ids, since]
        rows = self._read("since", f"{sql} LIMIT ?", [*params, limit])
        return [_row_to_message(row) for row in rows]

    def since_json(self, order_id: str, since: int, upto: int) -> list[str]:
        """Wire JSON of one order's messages with ``since < seq <= upto``, ascending: the poll path."""
        rows = self._read(
            "since_json",
            f"SELECT {WIRE} FROM messages WHERE orderId = ? AND seq > ? AND seq <= ? ORDER BY seq",
            (order_id, since, upto),
        )
        return [text for (text,) in rows]

    def ping(self) -> bool:
        """A cheap liveness check."""
        try:
            return self._read("ping", "SELECT 1") == [(1,)]
        except (sqlite3.Error, StoreError):
            return False

    # -- writes (group commit) ------------------------------------------------------------------
    async def add_orders(self, orders: Sequence[tuple[str, str]]) -> list[str]:
        """Create these (orderId, customerId) pairs if absent; returns the ids that were new."""

        def op(conn: sqlite3.Connection, now_ms: int) -> list[str]:
            created = []
            for order_id, customer_id in orders:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO orders (orderId, customerId) VALUES (?, ?)",
                    (order_id, customer_id),
                )
                if cur.rowcount:
                    created.append(order_id)
            return created

        return await self._write("add_orders", op)

    async def insert(self, messages: Sequence[NewMessage]) -> list[Message]:
        """Commit these messages (durably) and return them with seq and createdAt."""

        def op(conn: sqlite3.Connection, now_ms: int) -> list[Message]:
            return [message for message, _ in _insert_rows(conn, now_ms, messages)]

        return await self._write("insert", op)

    async def insert_once(self, message: NewMessage) -> tuple[Message, bool]:
        """Commit `message` unless its sender already stored one under its ``client_message_id``.

        Returns (the stored message, True if it was created now). A client whose 201 was lost with a crash
        retries with the same key and gets the message it created, not a copy under a new seq.
        """

        def op(conn: sqlite3.Connection, now_ms: int) -> tuple[Message, bool]:
            ((stored, created),) = _insert_rows(conn, now_ms, [message])
            return stored, created

        return await self._write("insert", op)

    async def mark_read(self, order_id: str, sender_type: Role) -> int:
        """Mark every unread message ``sender_type`` sent in this order as read; returns how many."""

        def op(conn: sqlite3.Connection, now_ms: int) -> int:
            cur = conn.execute(
                "UPDATE messages SET isRead = 1 WHERE orderId = ? AND senderType = ? AND isRead = 0",
                (order_id, sender_type),
            )
            return cur.rowcount

        return await self._write("mark_read", op)

    async def prune(self, older_than_ms: int) -> int:
        """Delete messages created before this time; returns how many."""

        def op(conn: sqlite3.Connection, now_ms: int) -> int:
            conn.execute("DELETE FROM message_keys WHERE createdAt < ?", (older_than_ms,))
            return conn.execute("DELETE FROM messages WHERE createdAt < ?", (older_than_ms,)).rowcount

        return await self._write("prune", op)

    async def _write(self, name: str, op: Callable[[sqlite3.Connection, int], T]) -> T:
        if self._writer is None:
            raise StoreError("the store is closed")
        started = time.perf_counter()
        if self._memory:
            result = self._commit([op])[0]
        else:
            future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
            self._pending.append(_Pending(op, future))
            if self._flushing is None:
                self._flushing = asyncio.create_task(self._flush())
            result = await future
        self._observe(name, time.perf_counter() - started)
        return cast(T, result)

    async def _flush(self) -> None:
        """Commit queued writes in batches until the queue is empty: one fsync per batch."""
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await loop.run_in_executor(self._executor, self._commit, [p.op for p in batch])
                except Exception:
                    # One bad write must not fail the others: retry each alone so only the culprit fails.
                    results = [
                        await loop.run_in_executor(self._executor, self._commit_one, p.op) for p in batch
                    ]
                for pending, result in zip(batch, results, strict=True):
                    if pending.future.done():
                        continue
                    if isinstance(result, BaseException):
                        pending.future.set_exception(result)
                    else:
                        pending.future.set_result(result)
        finally:
            self._flushing = None

    def _commit_one(self, op: Callable[[sqlite3.Connection, int], Any]) -> Any:
        try:
            return self._commit([op])[0]
        except Exception as exc:
            return StoreError(str(exc)) if isinstance(exc, sqlite3.Error) else exc

    def _commit(self, ops: list[Callable[[sqlite3.Connection, int], Any]]) -> list[Any]:
        conn = self._writer
        assert conn is not None
        # Commit time, kept non-decreasing so createdAt order agrees with seq order even if the clock steps.
        now_ms = max(time.time_ns() // 1_000_000, self._last_ms)
        conn.execute("BEGIN IMMEDIATE")
        try:
            results = [op(conn, now_ms) for op in ops]
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._last_ms = now_ms
        return results
