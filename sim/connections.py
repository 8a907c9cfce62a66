"""Connections: how many TCP connections each client holds on its server process, and of what kind.

Every HTTP strategy keeps its connections open between requests (HTTP/1.1 keep-alive), so a poller costs the
server a connection as much as a push client does; only what the connection holds differs. A customer
polling (`poll:T`, `seed-dashboard:T`, `adaptive`) holds one, since its requests of a tick go one after the
other; an admin fanning out over many orders holds a browser's per-origin pool of :data:`ADMIN_LANES`; a
long-poll client holds one per parked channel (one per order, as the load test's LongPollUser does; an
admin's single all-orders channel); SSE and WebSocket one stream per client.

A tick that fetches several orders runs its fetches in lanes, one per connection: a lane's next request
leaves when its previous one has answered (:func:`lane_order`, :func:`chain_offsets`).
"""

from __future__ import annotations

from typing import assert_never

import numpy as np
import numpy.typing as npt

from pollbench.strategies import (
    Adaptive,
    LongPoll,
    Poll,
    SeedDashboard,
    ServerSentEvents,
    Strategy,
    WebSocket,
)
from sim.workload import Population

__all__ = [
    "ADMIN_LANES",
    "chain_offsets",
    "client_connections",
    "fetch_lanes",
    "lane_order",
    "process_connections",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

ADMIN_LANES = 6
"""Concurrent requests a browser keeps per origin over HTTP/1.1 (Chromium, Firefox, Safari): the lanes an
admin's fan-out runs in, and the keep-alive connections its pool holds between ticks."""


def fetch_lanes(population: Population, clients: IntArray) -> IntArray:
    """Requests a polling client has in flight at once when one tick fetches several orders: a customer's
    fetches share its one connection (the load test's differential tick); an admin's use up to six."""
    admin_pool = min(ADMIN_LANES, max(1, population.orders))
    return np.where(clients >= population.customers, admin_pool, 1).astype(np.int64)


def client_connections(strategy: Strategy, population: Population, clients: IntArray) -> IntArray:
    """Connections each of `clients` holds open in steady state.

    An admin's pool stays at six because the server's keep-alive timeout (aiohttp: 75 s) outlasts every
    poll interval, so one busy tick's connections are still open at the next.
    """
    admin = clients >= population.customers
    match strategy:
        case Poll() | Adaptive():
            return fetch_lanes(population, clients)
        case SeedDashboard():
            return np.ones(clients.size, dtype=np.int64)  # one chain per tick; the admin panel lists only
        case LongPoll():
            return np.where(admin, 1, population.orders_per_customer).astype(np.int64)
        case ServerSentEvents() | WebSocket():
            return np.ones(clients.size, dtype=np.int64)
        case _:
            assert_never(strategy)


def process_connections(strategy: Strategy, population: Population, server: int) -> int:
    """Connections open on server process `server` in steady state (what its per-request cost scales by)."""
    return int(client_connections(strategy, population, population.clients_of(server)).sum())


def lane_order(segment_start: BoolArray, lanes: IntArray) -> tuple[IntArray | None, BoolArray]:
    """Put one tick's fetches into their lanes: the permutation to chain order, and each chain's first.

    `segment_start` marks the first fetch of each requesting tick (fetches in the order the client issues
    them); `lanes` is each fetch's client's lane count. Fetch r of a tick goes to lane r mod L as its wave
    r div L: a lane is a chain whose next fetch leaves when the previous one has answered. Returned in
    chain order (lane by lane, wave by wave), each chain's first fetch flagged. The permutation is None
    when the fetches already are in chain order (every tick's fetches fit one lane each, or one lane).
    """
    n = segment_start.size
    wide = np.flatnonzero(lanes > 1) if n else np.empty(0, dtype=np.int64)
    if wide.size == 0:
        return None, segment_start.copy()
    # Only clients with several lanes (admins) are reordered, and only within their own ticks: work on
    # their fetches alone (a customer's single lane is already in chain order).
    start = segment_start[wide] | np.r_[True, wide[1:] != wide[:-1] + 1]
    index = np.arange(wide.size, dtype=np.int64)
    rank = index - np.maximum.accumulate(np.where(start, index, 0))
    if not np.any(rank >= lanes[wide]):
        first = segment_start.copy()
        first[wide] = True  # every fetch has a lane of its own
        return None, first
    key = (np.cumsum(start) - 1) * int(lanes.max()) + rank % lanes[wide]
    by_lane = np.argsort(key, kind="stable")  # within a lane, ranks (so waves) stay ascending
    order = np.arange(n, dtype=np.int64)
    order[wide] = wide[by_lane]
    k = key[by_lane]
    first = segment_start.copy()
    first[wide] = np.r_[True, k[1:] != k[:-1]]
    return order, first


def chain_offsets(step: FloatArray, first: BoolArray) -> FloatArray:
    """Per item of chains laid out one after the other (`first` marks each chain's first item), the sum
    of `step` over the items before it in its chain (0 for the first)."""
    if step.size == 0:
        return np.zeros(0)
    before = np.empty_like(step)
    before[0] = 0.0
    np.cumsum(step[:-1], out=before[1:])
    heads = np.maximum.accumulate(np.where(first, np.arange(step.size), 0))
    return before - before[heads]
