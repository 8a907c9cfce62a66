"""poll:T and seed-dashboard:T in the fast path: setInterval rates, T/2 waits, empty polls."""

import math

import pytest

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


@pytest.mark.parametrize("engine", ["fast", "des"])
def test_an_admins_twelve_fetches_leave_in_two_waves_one_round_trip_apart(engine):
    """Twelve orders with news in every 3 s tick (one message per order and period, everyone receives
    every message), one admin, 50 ms RTT, negligible service: six `since` GETs answer at the first wave,
    six one round trip later, every tick."""
    import numpy as np

    from pollbench.scenario import Scenario
    from pollbench.strategies import parse_strategy
    from sim.calibration import Calibration
    from sim.context import build_context
    from sim.run import simulate_strategy

    sc = Scenario(
        clients=12, orders_per_client=1, admins=1, arrivals="periodic", message_interval=3.0,
        audience="order", duration=120.0, rtt_ms=50.0, rtt_sigma=0.0, service_time_ms=0.001,
    )  # fmt: skip
    _, rec = simulate_strategy(parse_strategy("poll:3"), build_context(sc, Calibration()), engine=engine)
    got = np.sort(rec["received_at"][rec["client"] == 12])
    ticks = np.split(got, np.flatnonzero(np.diff(got) > 1.0) + 1)[1:-1]  # whole ticks only
    assert len(ticks) > 30
    full = 0
    for tick in ticks:
        tick = np.unique(tick)  # one answer per fetch (an order with two messages answers both at once)
        # The SimPy model reads an order's messages when its fetch starts, so a message committed just
        # after the orders GET may ride along and leave the next tick one fetch short.
        assert 7 <= tick.size <= 12
        full += tick.size == 12
        np.testing.assert_allclose(tick[:6], tick[0], atol=1e-4)  # six 1 us GETs arriving together queue
        np.testing.assert_allclose(tick[6:], tick[0] + 0.050, atol=1e-4)
    assert full >= 0.5 * len(ticks)


def test_time_windows_do_not_change_the_answer(monkeypatch):
    """An admin's lane chains outlast a window of two ticks: fetches not yet queued are carried into the
    next window, so small windows give what one big window gives (deterministic services). Only which of
    the admin's simultaneous fetches is served first may differ (ties), which moves its answers by a few
    service times."""
    import numpy as np

    import sim.polling
    from pollbench.scenario import Scenario
    from pollbench.strategies import parse_strategy
    from sim.calibration import Calibration
    from sim.context import build_context
    from sim.run import simulate_strategy

    sc = Scenario(clients=200, message_interval=10.0, duration=300.0, rtt_sigma=0.0, service_time_ms=0.3)

    def run():
        result, rec = simulate_strategy(parse_strategy("poll:3"), build_context(sc, Calibration()))
        by = np.lexsort((rec["client"], rec["seq"]))
        return result, rec["client"][by], rec["received_at"][by]

    whole, client, received = run()
    monkeypatch.setattr(sim.polling, "WINDOW_REQUESTS", 400)
    windowed, client_w, received_w = run()
    customer = client < 200
    np.testing.assert_array_equal(client, client_w)
    np.testing.assert_allclose(received_w[customer], received[customer], rtol=0, atol=1e-9)
    admin_shift = received_w[~customer] - received[~customer]
    assert abs(admin_shift.mean()) < 0.0003 and np.abs(admin_shift).max() < 0.05
    assert windowed.queue_wait_s.mean == pytest.approx(whole.queue_wait_s.mean, rel=1e-9)
    assert windowed.requests_per_s == whole.requests_per_s
    assert whole.latency_s.max > 0.5  # the admin's last wave: the chains are long
