"""Tally: totals become the shared StrategyResult."""

import numpy as np
import pytest

from sim.energy import RadioModel
from sim.tally import Tally


def _tally():
    return Tally(
        duration_s=60.0, servers=2, clients=10, energy_clients=np.array([0, 1]), expected_requests=100
    )


def test_result_from_fed_totals():
    t = _tally()
    t.requests, t.polls, t.empty_polls, t.bytes, t.sent = 120, 100, 75, 6000.0, 4
    t.add_waits(np.array([0.0, 0.1, 0.2, 0.3]), np.full(4, 3.0))
    t.add_deliveries(
        commit_s=np.array([1.0, 2.0, 3.0]),
        received_s=np.array([2.0, 4.0, 6.0]),
        client=np.array([0, 3, 5]),
        order=np.array([0, 9, 15]),
        seq=np.array([0, 1, 2]),
    )
    r = t.result(is_push=False, radio=RadioModel())
    assert r.requests_per_s == 2.0
    assert r.empty_poll_fraction == 0.75
    assert r.bytes_per_client_per_min == 600.0
    assert r.bytes_per_delivery == 2000.0
    assert r.bytes_per_poll == 60.0
    assert r.server_utilization == pytest.approx(12.0 / 120.0)
    assert r.queue_wait_s.mean == pytest.approx(0.15)
    assert r.latency_s.mean == 2.0 and r.latency_s.max == 3.0
    assert (r.messages.sent, r.messages.delivered) == (4, 3)


def test_energy_sample_idles_without_activity():
    t = _tally()
    joules = t.energy_j_per_client_hour(RadioModel())
    assert joules == pytest.approx(RadioModel().idle_w * 3600.0)


def test_push_has_no_empty_polls_and_no_bytes_per_poll():
    t = _tally()
    t.polls, t.empty_polls = 10, 10
    r = t.result(is_push=True, radio=RadioModel())
    assert r.empty_poll_fraction == 0.0 and r.bytes_per_poll is None
