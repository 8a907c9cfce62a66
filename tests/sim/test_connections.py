"""Connections per client and strategy, and the lanes a tick's fetches run in."""

import numpy as np
import pytest

from pollbench.strategies import parse_strategy
from sim.connections import (
    ADMIN_LANES,
    chain_offsets,
    client_connections,
    fetch_lanes,
    lane_order,
    process_connections,
)
from sim.workload import Population

POP = Population(customers=10, admins=2, orders_per_customer=3, servers=1)
CUSTOMERS, ADMINS = np.arange(10), np.arange(10, 12)


@pytest.mark.parametrize(
    ("spec", "customer", "admin"),
    [
        ("poll:3", 1, ADMIN_LANES),
        ("adaptive", 1, ADMIN_LANES),
        ("seed-dashboard:3", 1, 1),
        ("longpoll", 3, 1),
        ("sse", 1, 1),
        ("ws", 1, 1),
    ],
)
def test_every_strategy_holds_its_connections(spec, customer, admin):
    """Pollers keep one keep-alive connection, long-poll one per order, push one stream; admins a pool."""
    strategy = parse_strategy(spec)
    assert client_connections(strategy, POP, CUSTOMERS).tolist() == [customer] * 10
    assert client_connections(strategy, POP, ADMINS).tolist() == [admin] * 2
    assert process_connections(strategy, POP, 0) == 10 * customer + 2 * admin


def test_processes_split_the_connections_round_robin():
    pop = Population(customers=10, admins=0, orders_per_customer=3, servers=3)
    held = [process_connections(parse_strategy("longpoll"), pop, s) for s in range(3)]
    assert held == [12, 9, 9]  # clients 0,3,6,9 / 1,4,7 / 2,5,8, three orders each


def test_an_admin_of_a_small_shop_has_no_more_lanes_than_orders():
    tiny = Population(customers=1, admins=1, orders_per_customer=2, servers=1)
    assert fetch_lanes(tiny, np.array([0, 1])).tolist() == [1, 2]


def test_twelve_fetches_in_six_lanes_are_two_waves():
    """One tick of 12 fetches: fetch r in lane r mod 6; each lane's second fetch follows its first."""
    start = np.zeros(12, dtype=bool)
    start[0] = True
    order, first = lane_order(start, np.full(12, 6))
    assert order is not None and order.tolist() == [0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11]
    assert first.tolist() == [True, False] * 6
    np.testing.assert_allclose(chain_offsets(np.full(12, 0.05), first), [0.0, 0.05] * 6, atol=1e-15)


def test_fetches_that_fit_their_lanes_keep_their_order():
    """A customer's tick of two fetches (one lane), then an admin's of three (six lanes): nothing to
    reorder, and each of the admin's fetches heads a chain of its own."""
    start = np.array([True, False, True, False, False])
    order, first = lane_order(start, np.array([1, 1, 6, 6, 6]))
    assert order is None
    assert first.tolist() == [True, False, True, True, True]


def test_only_the_wide_clients_fetches_are_reordered():
    """Customer (one lane, 2 fetches), admin (2 lanes, 4 fetches), customer (1 fetch)."""
    start = np.array([True, False, True, False, False, False, True])
    order, first = lane_order(start, np.array([1, 1, 2, 2, 2, 2, 1]))
    assert order is not None and order.tolist() == [0, 1, 2, 4, 3, 5, 6]
    assert first.tolist() == [True, False, True, False, True, False, True]


def test_one_lane_chains_a_customers_fetches_and_ticks_stay_apart():
    """Two ticks (3 and 2 fetches) of one-lane clients: each tick is one chain."""
    start = np.array([True, False, False, True, False])
    order, first = lane_order(start, np.ones(5, dtype=np.int64))
    assert order is None  # already in chain order
    assert first.tolist() == start.tolist()
    np.testing.assert_allclose(chain_offsets(np.array([1.0, 2.0, 4.0, 8.0, 16.0]), first), [0, 1, 3, 0, 8])
