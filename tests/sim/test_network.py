"""Network: per-client RTTs and wire bytes."""

import math

import numpy as np

from sim.calibration import WireBytes
from sim.network import client_rtts, full_get_bytes, orders_get_bytes, since_get_bytes


def test_rtt_median_and_spread():
    n = 40_000
    rtt = client_rtts(np.random.default_rng(1), n, 80.0, 0.5)
    # median of a lognormal sample: se of log-median ~ 1.2533 * sigma / sqrt(n)
    assert abs(math.log(np.median(rtt) / 0.080)) < 4 * 1.2533 * 0.5 / math.sqrt(n)
    assert abs(np.log(rtt).std() - 0.5) < 0.02


def test_a_304_is_headers_only():
    wire = WireBytes()
    assert orders_get_bytes(wire, changed=False, orders=3) == wire.request + wire.response_headers


def test_changed_list_and_since_answer_sizes():
    wire = WireBytes()
    assert orders_get_bytes(wire, changed=True, orders=3) == wire.request + wire.response_headers + 3 * 350
    assert since_get_bytes(wire, messages=2, text_bytes=300) == 420 + 220 + 40 + 2 * 120 + 300
    assert 2048 < full_get_bytes(wire) < 3000  # the seed's ~2 KB per order, plus headers
