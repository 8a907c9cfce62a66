"""Adaptive polling: the vectorised rule equals the shared spec's, backing off without news."""

import numpy as np

from pollbench.strategies import Adaptive
from sim.adaptive import effective_intervals, next_intervals, poll_schedule
from tests.sim.conftest import run_one


def test_vectorised_rules_equal_the_spec_methods():
    spec = Adaptive(min_s=2.0, max_s=40.0, factor=1.5)
    rng = np.random.default_rng(1)
    current = rng.uniform(1, 50, 500)
    news = rng.random(500) < 0.3
    hidden = np.where(rng.random(500) < 0.5, np.nan, rng.uniform(0, 600, 500))
    nxt = next_intervals(spec, current, news)
    eff = effective_intervals(spec, current, hidden)
    for i in range(500):
        assert nxt[i] == spec.next_interval(float(current[i]), got_news=bool(news[i]))
        h = None if np.isnan(hidden[i]) else float(hidden[i])
        assert eff[i] == spec.effective_interval(float(current[i]), hidden_for_s=h)


def test_interval_backs_off_to_max_without_news():
    spec = Adaptive()
    t, c, _, found = poll_schedule(
        spec,
        rng=np.random.default_rng(2),
        commit_s=np.empty(0),
        owner=np.empty(0, dtype=np.int64),
        clients=1,
        duration=300.0,
        hidden_fraction=0.0,
    )
    np.testing.assert_allclose(np.diff(t), [6.0, 12.0, 24.0] + [30.0] * (len(t) - 4))
    assert not found.any()


def test_adaptive_polls_less_than_poll_min():
    r = run_one("adaptive", clients=200, duration=1800.0)
    assert r.requests_per_s < 200 / 3.0
    assert r.latency_s.mean > 1.5


def test_hidden_tabs_poll_less():
    visible = run_one("adaptive:max=3", clients=200, duration=1800.0)
    hidden = run_one("adaptive:max=3", clients=200, duration=1800.0, hidden_fraction=0.9)
    assert hidden.requests_per_s < 0.5 * visible.requests_per_s
