"""Workload: message arrival processes, alternating senders, recipients, tab visibility."""

import math

import numpy as np

from pollbench.scenario import Scenario
from sim.workload import Population, TabVisibility, delivery_pairs, generate_messages


def _messages(**kw):
    scenario = Scenario(**kw)
    return scenario, generate_messages(scenario, np.random.default_rng(7))


def test_poisson_count_within_sampling_error():
    sc, m = _messages(clients=500, duration=3600.0, message_interval=60.0)
    expected = sc.orders * sc.duration / sc.message_interval
    assert abs(len(m) - expected) < 4 * math.sqrt(expected)
    assert np.all(np.diff(m.commit_s) >= 0)


def test_periodic_is_exactly_one_per_interval_per_order():
    sc, m = _messages(clients=10, duration=600.0, message_interval=50.0, arrivals="periodic")
    counts = np.bincount(m.order, minlength=sc.orders)
    assert set(counts.tolist()) == {12}
    gaps = np.diff(np.sort(m.commit_s[m.order == 0]))
    np.testing.assert_allclose(gaps, 50.0)


def test_bursty_keeps_the_mean_rate():
    sc, m = _messages(clients=1000, duration=3600.0, message_interval=60.0, arrivals="bursty")
    expected = sc.orders * sc.duration / sc.message_interval
    # Conversations (~B messages each) are the independent units, so the count's sd is ~sqrt(B * expected).
    assert abs(len(m) - expected) < 4 * math.sqrt(sc.burst_messages * 2 * expected)


def test_bursty_is_burstier_than_poisson():
    """Squared coefficient of variation of gaps inside an order: ~1 for Poisson, well above for bursts."""
    _, p = _messages(clients=300, duration=7200.0, arrivals="poisson")
    _, b = _messages(clients=300, duration=7200.0, arrivals="bursty")

    def scv(m):
        order = np.lexsort((m.commit_s, m.order))
        t, o = m.commit_s[order], m.order[order]
        g = np.diff(t)[o[1:] == o[:-1]]
        return g.var() / g.mean() ** 2

    assert scv(p) < 1.2 < 2.0 < scv(b)


def test_senders_alternate_within_an_order():
    _, m = _messages(clients=50, duration=3600.0)
    for order in range(20):
        flags = m.to_customer[m.order == order]
        assert np.all(flags[1:] != flags[:-1])


def test_pairs_go_to_customer_or_every_admin():
    sc, m = _messages(clients=100, admins=2, duration=1800.0)
    pairs = delivery_pairs(m, Population.from_scenario(sc))
    to_c = int(m.to_customer.sum())
    assert len(pairs) == to_c + 2 * (len(m) - to_c)
    cust = pairs.client < sc.clients
    np.testing.assert_array_equal(pairs.client[cust], pairs.order[cust] // sc.orders_per_client)
    assert set(np.unique(pairs.client[~cust]).tolist()) == {100, 101}
    assert np.all(np.diff(pairs.commit_s) >= 0)


def test_order_audience_gives_every_message_to_the_customer_and_every_admin():
    sc, m = _messages(clients=100, admins=2, duration=1800.0)
    pairs = delivery_pairs(m, Population.from_scenario(sc), "order")
    assert len(pairs) == 3 * len(m)
    cust = pairs.client < sc.clients
    assert int(cust.sum()) == len(m)
    np.testing.assert_array_equal(pairs.client[cust], pairs.order[cust] // sc.orders_per_client)
    np.testing.assert_array_equal(np.bincount(pairs.client[~cust] - 100), [len(m), len(m)])
    assert np.all(np.diff(pairs.commit_s) >= 0)


def test_order_audience_without_admins_is_one_delivery_per_message():
    sc, m = _messages(clients=50, admins=0, duration=1800.0)
    pairs = delivery_pairs(m, Population.from_scenario(sc), "order")
    np.testing.assert_array_equal(pairs.seq, np.arange(len(m)))


def test_hidden_fraction_of_tabs():
    n = 20_000
    tabs = TabVisibility(np.random.default_rng(8), n, 0.3)
    hidden = ~np.isnan(tabs.hidden_for(np.full(n, 5000.0), np.arange(n)))
    assert abs(hidden.mean() - 0.3) < 4 * math.sqrt(0.3 * 0.7 / n)


def test_round_robin_server_assignment():
    pop = Population(customers=10, admins=1, orders_per_customer=2, servers=3)
    assert pop.clients_of(1).tolist() == [1, 4, 7, 10]
    assert pop.server_of([0, 5, 10]).tolist() == [0, 2, 1]


def test_advance_past_matches_binary_search():
    from sim.workload import advance_past

    rng = np.random.default_rng(9)
    counts = rng.integers(0, 40, 300)
    end = np.cumsum(counts)
    ptr = end - counts
    times = np.concatenate([np.sort(rng.uniform(0, 100, c)) for c in counts])
    who = np.arange(300)
    until = rng.uniform(0, 100, 300)
    got = advance_past(times, ptr, end, who, until)
    want = [p + np.searchsorted(times[p:e], u, side="right") for p, e, u in zip(ptr, end, until, strict=True)]
    assert got.tolist() == want


def test_message_text_is_the_json_size_less_the_other_fields():
    sc = Scenario(clients=200, duration=3600.0, message_interval=10.0, message_bytes=300)
    whole = generate_messages(sc, np.random.default_rng(3))
    text = generate_messages(sc, np.random.default_rng(3), overhead_bytes=170)
    n = len(text)
    # gamma(2) sizes: standard deviation mean / sqrt(2); 5 standard errors.
    assert abs(text.size_bytes.mean() - 130) < 5 * 130 / math.sqrt(2 * n)
    assert abs(whole.size_bytes.mean() - 300) < 5 * 300 / math.sqrt(2 * n)
