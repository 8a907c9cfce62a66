"""poll:T and seed-dashboard:T in the fast path: setInterval rates, T/2 waits, empty polls."""

import math

from tests.sim.conftest import run_one


def test_poll_request_rate_is_clients_over_interval_plus_since_fetches():
    r = run_one("poll:5", clients=200, admins=0, duration=3600.0)
    ticks = 200 * 3600.0 / 5
    assert r.extra["polls"] == round(ticks)
    assert r.requests_per_s >= 200 / 5


def test_poll_latency_mean_is_half_the_interval_plus_overhead():
    """Random phase: wait ~ U[0, T]; overhead = 1.5 RTT + two services (deterministic, 1 ms)."""
    r = run_one(
        "poll:4", clients=300, admins=0, rtt_ms=40.0, rtt_sigma=0.0, service_time_ms=1.0, duration=3600.0
    )
    n = r.latency_s.count
    expected = 2.0 + 1.5 * 0.040 + 0.002
    assert abs(r.latency_s.mean - expected) < 4 * (4.0 / math.sqrt(12)) / math.sqrt(n) + 0.002


def test_empty_poll_fraction_matches_poisson():
    """Per customer news rate: K orders x half the messages; empty fraction e^(-lambda T)."""
    r = run_one("poll:3", clients=400, admins=0, message_interval=60.0, duration=3600.0)
    lam = 3 * (1 / 60.0) / 2
    p = math.exp(-lam * 3)
    n = r.extra["polls"]
    assert abs(r.empty_poll_fraction - p) < 4 * math.sqrt(p * (1 - p) / n) + 0.002


def test_seed_dashboard_makes_one_plus_k_requests_per_tick():
    r = run_one("seed-dashboard:3", clients=100, admins=0, orders_per_client=3, duration=600.0)
    assert r.extra["requests"] == 100 * 200 * 4
    assert r.empty_poll_fraction > 0.5
    assert r.bytes_per_client_per_min > 4 * 20 * 2048  # four full-ish answers per tick, 20 ticks a minute


def test_everything_sent_is_delivered_except_the_tail():
    r = run_one("poll:3", clients=100, duration=1800.0)
    assert r.messages.sent - r.messages.delivered < 0.01 * r.messages.sent


def test_conversation_messages_ride_in_every_full_get():
    """Each full GET carries k more messages of JSON: bytes per poll grow by K orders x k x message size."""
    base = run_one("seed-dashboard:3", clients=50, admins=0, duration=300.0, message_bytes=300)
    grown = run_one("seed-dashboard:3", clients=50, admins=0, duration=300.0, message_bytes=300,
                    conversation_messages=4.0)  # fmt: skip
    assert grown.bytes_per_poll - base.bytes_per_poll == 3 * 4.0 * 300  # 3 orders per client, exact


def test_conversation_messages_do_not_touch_differential_polls():
    base = run_one("poll:3", clients=50, admins=0, duration=300.0)
    grown = run_one("poll:3", clients=50, admins=0, duration=300.0, conversation_messages=4.0)
    assert grown.bytes_per_poll == base.bytes_per_poll
