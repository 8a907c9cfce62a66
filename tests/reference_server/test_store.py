"""reference_server.store: durable SQLite store with group commit."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

from reference_server.store import NewMessage, SQLiteStore, StoreError


def new(order: str = "o1", content: str = "hello", role: str = "customer") -> NewMessage:
    return NewMessage(order_id=order, sender_type=role, sender_name="Someone", content=content)  # type: ignore[arg-type]


@pytest.fixture
async def store(tmp_path):
    s = SQLiteStore(str(tmp_path / "s.db"))
    await s.open()
    await s.add_orders([("o1", "c1"), ("o2", "c1")])
    yield s
    await s.close()


async def test_file_database_uses_wal_and_full_sync(store, tmp_path):
    conn = sqlite3.connect(tmp_path / "s.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert store._writer.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


async def test_concurrent_inserts_get_distinct_increasing_seqs(store):
    results = await asyncio.gather(*(store.insert([new(content=f"m{i}")]) for i in range(50)))
    seqs = [r[0].seq for r in results]
    assert sorted(seqs) == list(range(1, 51))
    # Group commit: the write queue is flushed in order, so callers see seqs in submission order.
    assert seqs == sorted(seqs)


async def test_created_at_never_decreases_with_seq(store):
    messages = [m for _ in range(5) for m in await store.insert([new(), new("o2")])]
    stamps = [m.created_ms for m in messages]
    assert stamps == sorted(stamps)


async def test_since_filters_by_order_and_seq(store):
    a, b, c = await store.insert([new("o1", "a"), new("o2", "b"), new("o1", "c")])
    assert [m.content for m in store.since(["o1"], 0)] == ["a", "c"]
    assert [m.content for m in store.since(["o1"], a.seq)] == ["c"]
    assert [m.content for m in store.since(["o1", "o2"], 0)] == ["a", "b", "c"]
    assert [m.content for m in store.since(None, b.seq)] == ["c"]


async def test_wire_json_equals_message_json_before_and_after_read(store):
    (m,) = await store.insert([new(content='tricky "isRead":false \\ é\n')])
    (wire,) = store.since_json("o1", 0, m.seq)
    assert wire == m.dumps()
    await store.mark_read("o1", "customer")
    (wire,) = store.since_json("o1", 0, m.seq)
    assert json.loads(wire) == {**m.to_json(), "isRead": True}
    assert json.loads(wire)["content"] == 'tricky "isRead":false \\ é\n'


async def test_since_json_stops_at_upto(store):
    a, b = await store.insert([new(), new()])
    assert len(store.since_json("o1", 0, a.seq)) == 1


async def test_mark_read_touches_only_that_sender_in_that_order(store):
    await store.insert([new("o1", role="admin"), new("o1", role="customer"), new("o2", role="admin")])
    assert await store.mark_read("o1", "admin") == 1
    assert await store.mark_read("o1", "admin") == 0
    unread = {(r.order_id, r.sender_type): r.unread for r in store.counts()}
    assert unread == {("o1", "admin"): 0, ("o1", "customer"): 1, ("o2", "admin"): 1}


async def test_prune_removes_old_rows_but_seq_is_never_reused(store):
    (old,) = await store.insert([new()])
    assert await store.prune(old.created_ms + 1) == 1
    (fresh,) = await store.insert([new()])
    assert fresh.seq > old.seq and store.last_seq() == fresh.seq


async def test_a_bad_write_fails_alone_in_its_batch(store):
    results = await asyncio.gather(
        store.insert([new("o1", "ok")]), store.insert([new("missing-order", "bad")]), return_exceptions=True
    )
    assert not isinstance(results[0], BaseException)
    assert isinstance(results[1], StoreError)
    assert [m.content for m in store.since(["o1"], 0)] == ["ok"]


async def test_reopened_store_sees_committed_messages(tmp_path):
    path = str(tmp_path / "d.db")
    first = SQLiteStore(path)
    await first.open()
    await first.add_orders([("o1", "c1")])
    committed = [m for _ in range(3) for m in await first.insert([new()])]
    await first.close()
    second = SQLiteStore(path)
    await second.open()
    assert store_seqs(second) == [m.seq for m in committed]
    await second.close()


def store_seqs(store: SQLiteStore) -> list[int]:
    return [m.seq for m in store.since(None, 0)]


async def test_memory_database_works_without_a_writer_thread():
    s = SQLiteStore(":memory:")
    await s.open()
    await s.add_orders([("o1", "c1")])
    (m,) = await s.insert([new()])
    assert [x.seq for x in s.since(["o1"], 0)] == [m.seq]
    await s.close()


async def test_unopenable_path_is_a_store_error(tmp_path):
    s = SQLiteStore(str(tmp_path / "missing-dir" / "x.db"))
    with pytest.raises(StoreError, match="cannot open database"):
        await s.open()


async def test_store_query_latency_is_observed(tmp_path):
    seen: list[str] = []
    s = SQLiteStore(str(tmp_path / "o.db"), observe=lambda op, seconds: seen.append(op))
    await s.open()
    await s.add_orders([("o1", "c1")])
    s.since(["o1"], 0)
    await s.close()
    assert "add_orders" in seen and "since" in seen
