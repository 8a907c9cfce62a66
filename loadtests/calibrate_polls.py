"""Service times of the request/response kinds: polls of every shape, the POST, the no-op reference.

Each kind is one :class:`~loadtests.calibrate_http.Batch`. Most are the same request repeated, which is
what a poller does between changes. Two need care to measure what really happens:

- ``since`` with news: a repeated request would be served from the server's ETag-keyed body cache after
  the first time, but a real client asks for a given (order, cursor) once. So each request names a
  different cursor that still returns exactly one message (any ``since`` between the order's previous and
  latest seq does), and every one is a cache miss that reads SQLite.
- ``post``: commits a message (group commit on the server's writer thread, which is part of the process).

``full_messages`` is the seed's 2 KB poll of an unchanged order; the server answers it from its body cache,
as it does for every repeat poll of an order that has not changed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from urllib.parse import quote

from loadtests.calibrate_http import Batch, Budget, Conn, Sample, encode_request, run_batch
from loadtests.calibrate_plan import Plan
from loadtests.calibrate_server import CalibrateError, Target
from loadtests.fixtures import Customer

__all__ = [
    "etag_of",
    "fetch",
    "measure_noop",
    "measure_polls",
    "not_modified_polls",
    "order_cursors",
    "post_round",
]

Report = Callable[[Sample], None]


async def fetch(conn: Conn, request: bytes, expect: int = 200) -> tuple[bytes, bytes]:
    """Head and body of one exchange that must answer ``expect``."""
    conn.writer.write(request)
    status, head, body = await conn.read_response()
    if status != expect:
        line = request.split(b"\r\n", 1)[0].decode(errors="replace")
        raise CalibrateError(f"{line} answered {status}, expected {expect}: {body[:200]!r}")
    return head, body


def etag_of(head: bytes) -> str:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"etag":
            return value.strip().decode()
    raise CalibrateError("GET /api/orders answered without an ETag")


async def order_cursors(conn: Conn, plan: Plan) -> dict[str, int]:
    """Current cursor of every writer order (one order list per writer)."""
    cursors: dict[str, int] = {}
    for customer in plan.writers:
        _head, body = await fetch(conn, plan.get("/api/orders", customer))
        for order in json.loads(body)["orders"]:
            cursors[str(order["orderId"])] = int(order["cursor"])
    return cursors


async def post_round(conn: Conn, plan: Plan, orders: list[tuple[str, str]] | None = None) -> dict[str, int]:
    """Post one message into each writer order (or ``orders``: (customer id, order id)); their new seqs."""
    owners = {c.id: c for c in plan.writers}
    pairs = orders if orders is not None else [(c.id, o) for c, o in plan.writer_orders]
    seqs = {}
    for customer_id, order_id in pairs:
        _head, body = await fetch(conn, plan.post(owners[customer_id], order_id), expect=201)
        seqs[order_id] = int(json.loads(body)["message"]["seq"])
    return seqs


async def not_modified_polls(target: Target, customers: Sequence[Customer], plan: Plan) -> list[bytes]:
    """Each customer's 304 poll (its current order-list ETag), fetched over a few connections."""
    conns = [await Conn.open(target.host, target.port) for _ in range(min(8, len(customers)))]
    out: list[bytes] = [b""] * len(customers)

    async def fill(k: int) -> None:
        for i in range(k, len(customers), len(conns)):
            head, _body = await fetch(conns[k], plan.get("/api/orders", customers[i]))
            out[i] = plan.get("/api/orders", customers[i], If_None_Match=etag_of(head))

    try:
        await asyncio.gather(*(fill(k) for k in range(len(conns))))
    finally:
        for conn in conns:
            conn.close()
    return out


def since_requests(plan: Plan, before: dict[str, int], after: dict[str, int], limit: int) -> list[bytes]:
    """Distinct since-polls that each return exactly the order's latest message (cache misses)."""
    owner = {o: c for c, o in plan.writer_orders}
    out: list[bytes] = []
    spans = [(o, range(before[o], after[o])) for o in after if o in before]
    for i in range(max((len(r) for _o, r in spans), default=0)):
        for order_id, span in spans:
            if i < len(span):
                out.append(plan.messages(owner[order_id], order_id, span[i]))
                if len(out) >= limit:
                    return out
    return out


async def measure_noop(
    target: Target, clock: Callable[[], float], budget: Budget, connections: int
) -> Sample:
    """GET /bench/noop: the same server's trivial handler, the machine's reference figure."""
    request = encode_request("GET", "/bench/noop", f"{target.host}:{target.port}", {})
    batch = Batch(kind="noop", requests=[request], expect=200, connections=connections)
    return await run_batch(target.host, target.port, batch, clock, budget)


async def _reader_batches(conn: Conn, plan: Plan, connections: int) -> list[Batch]:
    """The identical-request kinds, all on the reader's first order (its live ETag and cursor)."""
    reader, order = plan.reader, plan.reader.orders[0]
    head, _body = await fetch(conn, plan.get("/api/orders", reader))
    _h, body = await fetch(conn, plan.messages(reader, order))
    cursor = int(json.loads(body)["cursor"])
    if cursor == 0:
        raise CalibrateError(f"order {quote(order)} has no message; the polls need some (seed with messages)")
    wait_since = cursor - 1  # a long-poll from just before the last message is answered at once
    shapes = [
        ("orders_304", plan.get("/api/orders", reader, If_None_Match=etag_of(head)), 304),
        ("orders_200", plan.get("/api/orders", reader), 200),
        ("full_messages", plan.messages(reader, order), 200),
        ("since_empty", plan.messages(reader, order, cursor), 200),
        ("longpoll_reply", plan.wait(reader, order, wait_since, 30.0), 200),
    ]
    return [Batch(kind=k, requests=[r], expect=e, connections=connections) for k, r, e in shapes]


async def measure_polls(
    target: Target, plan: Plan, clock: Callable[[], float], budget: Budget, connections: int, report: Report
) -> tuple[dict[str, Sample], int]:
    """Every request/response kind, and how many distinct since-polls there were; ``report`` is called after
    each kind."""
    samples: dict[str, Sample] = {}
    since: list[bytes] = []
    conn = await Conn.open(target.host, target.port)
    try:
        for batch in await _reader_batches(conn, plan, connections):
            samples[batch.kind] = await run_batch(target.host, target.port, batch, clock, budget)
            report(samples[batch.kind])
        posts = [plan.post(c, o) for c, o in plan.writer_orders]
        post = Batch(kind="post", requests=posts, expect=201, connections=connections)
        samples["post"] = await run_batch(target.host, target.port, post, clock, budget)
        report(samples["post"])
        before = await order_cursors(conn, plan)
        # 40 orders, each with a gap of ~100 seqs, give thousands of distinct one-message since-polls.
        after = await post_round(conn, plan, [(c.id, o) for c, o in plan.writer_orders[:40]])
        since = since_requests(plan, before, after, budget.max_requests)
        news = Batch(kind="since", requests=since, expect=200, connections=connections)
        samples["since"] = await run_batch(target.host, target.port, news, clock, budget)
        report(samples["since"])
    finally:
        conn.close()
    return samples, len(since)
