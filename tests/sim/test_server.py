"""The event loop as a FIFO single server: Lindley's recursion, batching, splicing, shared queues."""

import numpy as np
import pytest

from sim.calibration import Calibration
from sim.server import FifoServer, ServiceModel, fifo_waits, shared_queue_waits


def _loop_lindley(a, s):
    w = np.zeros(len(a))
    for n in range(1, len(a)):
        w[n] = max(0.0, w[n - 1] + s[n - 1] - (a[n] - a[n - 1]))
    return w


def test_fifo_waits_hand_example():
    """Three requests 1 s apart needing 2 s each: waits 0, 1, 2."""
    assert fifo_waits([0.0, 1.0, 2.0], [2.0, 2.0, 2.0]).tolist() == [0.0, 1.0, 2.0]


def test_fifo_waits_equals_the_recursion():
    rng = np.random.default_rng(3)
    a = np.cumsum(rng.exponential(1.0, 5000))
    s = rng.exponential(0.9, 5000)
    np.testing.assert_allclose(fifo_waits(a, s), _loop_lindley(a, s), atol=1e-9)


def test_batches_carry_the_backlog():
    """Feeding a stream in windows gives the same waits as feeding it at once."""
    rng = np.random.default_rng(4)
    a = np.cumsum(rng.exponential(1.0, 3000))
    s = rng.exponential(0.95, 3000)
    server = FifoServer()
    parts = [server.process(a[i : i + 700], s[i : i + 700]) for i in range(0, 3000, 700)]
    np.testing.assert_allclose(np.concatenate(parts), fifo_waits(a, s), atol=1e-9)
    assert server.requests == 3000
    assert server.busy_s == pytest.approx(s.sum())


def test_process_merged_equals_sorting_everything():
    rng = np.random.default_rng(5)
    base = np.sort(rng.uniform(0, 100, 1000))
    extra = rng.uniform(0, 100, 80)
    sb, se = rng.exponential(0.08, 1000), rng.exponential(0.08, 80)
    wb, we = FifoServer().process_merged(base, sb, extra, se)
    a = np.concatenate([base, extra])
    s = np.concatenate([sb, se])
    order = np.argsort(a, kind="stable")
    w = np.empty(a.size)
    w[order] = fifo_waits(a[order], s[order])
    np.testing.assert_allclose(wb, w[:1000], atol=1e-9)
    np.testing.assert_allclose(we, w[1000:], atol=1e-9)


def test_unsorted_arrivals_are_rejected():
    with pytest.raises(ValueError, match="sorted"):
        fifo_waits([1.0, 0.5], [0.1, 0.1])


def test_shared_queue_with_one_server_is_fifo():
    rng = np.random.default_rng(6)
    a = np.cumsum(rng.exponential(1.0, 500))
    s = rng.exponential(0.8, 500)
    np.testing.assert_allclose(shared_queue_waits(a, s, 1), fifo_waits(a, s), atol=1e-9)


def test_shared_queue_two_servers_hand_example():
    """Two servers, three requests at 0 needing 1 s: the third waits for the first free server."""
    assert shared_queue_waits([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], 2).tolist() == [0.0, 0.0, 1.0]


def test_forced_service_time_is_deterministic():
    model = ServiceModel(calibration=Calibration(), forced_ms=2.0)
    draws = model.draw_kind(np.random.default_rng(1), "since", 5)
    assert draws.tolist() == [0.002] * 5


def test_exponential_service_mean_within_sampling_error():
    model = ServiceModel(calibration=Calibration())
    n = 200_000
    draws = model.draw_kind(np.random.default_rng(2), "orders_304", n)
    mean = Calibration().service_s("orders_304")
    assert abs(draws.mean() - mean) < 4 * mean / np.sqrt(n)  # exponential: sd = mean


def test_arrival_order_sorts_like_a_stable_argsort():
    from sim.server import arrival_order

    rng = np.random.default_rng(10)
    t = np.round(rng.uniform(0, 3600, 100_000), 3)  # many exact ties
    perm = arrival_order(t)
    assert np.all(np.diff(t[perm]) >= 0)
    np.testing.assert_array_equal(perm, np.argsort(t, kind="stable"))
