"""Long-polling in the fast path: parked requests, timeouts, immediate delivery."""

from tests.sim.conftest import run_one


def test_without_messages_every_request_times_out():
    r = run_one("longpoll:20", clients=50, admins=0, message_interval=1e7, duration=1200.0, rtt_sigma=0.0)
    assert r.empty_poll_fraction == 1.0
    # one request per channel per (timeout + RTT + service)
    per_channel = 1200.0 / (20.0 + 0.05 + 0.0002)
    assert abs(r.extra["requests"] - 150 * per_channel) <= 150
    assert abs(r.open_connections - 150) < 2  # every channel is parked nearly all the time


def test_messages_arrive_in_about_one_trip():
    r = run_one("longpoll", clients=100, rtt_ms=50.0, rtt_sigma=0.0, service_time_ms=1.0)
    assert r.messages.delivered == r.messages.sent
    assert r.latency_s.p50 < 0.05
    assert 0.025 < r.latency_s.mean < 0.1
