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


def _sequential_cold_start(a, s, cold, quota=1.0, free_at=0.0):
    """The cold-start recursion one job at a time: the reference the vectorised fixed point must match."""
    waits, spent = np.zeros(len(a)), np.zeros(len(a))
    for n, (arrive, work) in enumerate(zip(a, s, strict=True)):
        start = max(arrive, free_at)
        gap = arrive - free_at
        spent[n] = work + (float(cold.penalty_s(gap)) / quota if gap > 0 else 0.0)
        waits[n] = start - arrive
        free_at = start + spent[n]
    return waits, spent


def test_cold_start_lands_exactly_on_the_idle_arrivals():
    """1 ms jobs. Jobs 0 and 3 find the loop idle (10 ms and ~8 ms gaps) and pay the penalty; 1, 2 and 4
    queue. Job 5 would find it idle without penalties (0.3 ms gap), but job 3's penalty keeps the loop busy:
    it waits and pays nothing, which a penalty added after the fact would get wrong."""
    from sim.calibration import ColdStart

    cold = ColdStart(max_ms=0.5, tau_ms=2.0)
    a = np.array([0.0100, 0.0105, 0.0110, 0.0215, 0.0218, 0.0238])
    s = np.full(a.size, 0.001)
    server = FifoServer(cold_start=cold, free_at=0.0)
    waits = server.process_trusted(a, s)
    p0 = float(cold.penalty_s(0.010))
    end2 = 0.010 + p0 + 0.003
    p3 = float(cold.penalty_s(0.0215 - end2))
    end4 = 0.0215 + p3 + 0.002
    assert 0.0238 < end4  # the premise: job 3's penalty covers job 5's penalty-free gap
    expected = [0.0, 0.0110 + p0 - 0.0105, 0.0120 + p0 - 0.0110, 0.0, 0.0225 + p3 - 0.0218, end4 - 0.0238]
    np.testing.assert_allclose(waits, expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(s - 0.001, [p0, 0, 0, p3, 0, 0], rtol=0, atol=1e-15)
    assert server.penalty_s == pytest.approx(p0 + p3, abs=1e-15)
    assert server.busy_s == pytest.approx(0.006 + p0 + p3, abs=1e-15)
    np.testing.assert_allclose(waits, _sequential_cold_start(a, np.full(a.size, 0.001), cold)[0], atol=1e-15)


def test_cold_start_fixed_point_equals_the_recursion_at_every_load():
    from sim.calibration import ColdStart

    cold = ColdStart(max_ms=0.6, tau_ms=1.5)
    for rate in (100.0, 1000.0, 3000.0, 5000.0):  # 1 ms + penalty per job: light to saturated
        rng = np.random.default_rng(int(rate))
        a = np.cumsum(rng.exponential(1.0 / rate, 20_000))
        s = rng.exponential(0.0002, a.size)
        srv = s.copy()
        waits = FifoServer(cold_start=cold, quota=0.5, free_at=0.0).process_trusted(a, srv)
        ref_waits, ref_spent = _sequential_cold_start(a, s, cold, quota=0.5)
        np.testing.assert_allclose(waits, ref_waits, atol=1e-9)
        np.testing.assert_allclose(srv, ref_spent, atol=1e-9)


def test_no_cold_start_leaves_services_untouched():
    rng = np.random.default_rng(8)
    a = np.cumsum(rng.exponential(1.0, 1000))
    s = rng.exponential(0.5, 1000)
    before = s.copy()
    FifoServer().process_trusted(a, s)
    np.testing.assert_array_equal(s, before)


def test_idle_exposure_is_the_penalty_integrated_over_idle_time():
    """A POST at a uniformly random moment pays exposure / duration: checked by averaging many moments."""
    from sim.calibration import ColdStart

    cold = ColdStart(max_ms=0.5, tau_ms=2.0)
    a = np.array([0.003, 0.004, 0.020, 0.021])
    s = np.full(4, 0.002)
    server = FifoServer(cold_start=cold, free_at=0.0)
    server.process_trusted(a, s)
    server.close(0.05)
    # idle spells: [0, 0.003), [0.005 + p1...]: sample the idle age on a fine grid and integrate
    t = np.linspace(0.0, 0.05, 2_000_001)[:-1]
    ends = a + FifoServer(cold_start=cold, free_at=0.0).process_trusted(a, np.full(4, 0.002)) + s
    free = np.r_[0.0, ends]
    starts = np.r_[a, np.inf]
    age = np.full(t.size, -1.0)
    for f, nxt in zip(free, starts, strict=True):
        inside = (t >= f) & (t < nxt)
        age[inside] = t[inside] - f
    idle = age >= 0
    numeric = float(cold.penalty_s(age[idle]).sum()) * (0.05 / t.size)
    assert server.exposure_s2 == pytest.approx(numeric, rel=1e-4)


def test_a_process_model_scales_every_service_time_by_connections_and_quota():
    from sim.calibration import ConnectionScaling

    cal = Calibration(connection_scaling=ConnectionScaling(points=((100, 1.0), (1100, 2.0))))
    base = ServiceModel(calibration=cal)
    busy = base.on_process(connections=1100, quota=None)
    halved = base.on_process(connections=100, quota=0.5)
    for kind in ("orders_304", "since", "push", "post"):
        assert busy.mean(kind) == pytest.approx(2 * base.mean(kind))
        assert halved.mean(kind) == pytest.approx(2 * base.mean(kind))
    assert base.on_process(connections=600, quota=0.25).scale == pytest.approx(1.5 / 0.25)
    forced = ServiceModel(calibration=cal, forced_ms=1.0).on_process(connections=1100, quota=0.5)
    assert forced.mean("since") == pytest.approx(0.004)
