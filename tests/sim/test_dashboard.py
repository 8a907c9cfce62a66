"""sim.dashboard: the seed's full GETs carry the conversation as it grows during the run."""

import math

from pollbench.scenario import Scenario
from sim.calibration import Calibration
from sim.context import build_context
from sim.dashboard import conversation_growth_bytes
from tests.sim.conftest import run_one


def test_growth_matches_the_integral_of_messages_over_later_gets():
    """Poisson commits at rate L over [0, D]; each rides in (D - c) / T later GETs: L * D^2 / (2T) * size."""
    sc = Scenario(clients=300, admins=0, duration=1800.0, message_interval=60.0, message_bytes=400)
    cal = Calibration()
    ctx = build_context(sc, cal)
    growth = conversation_growth_bytes(ctx, 3.0)
    n = sc.orders * sc.duration / sc.message_interval
    expected = n * sc.duration / (2 * 3.0) * sc.message_bytes
    # n ~ 9 000 messages: relative standard error of the sum ~ 1/sqrt(n) (counts) + gamma sizes; 5 %.
    assert abs(growth / expected - 1) < 5 * math.sqrt(2 / n) + 0.01


def test_seed_dashboard_bytes_include_the_growth():
    r = run_one("seed-dashboard:3", clients=50, admins=0, duration=600.0, message_interval=10.0)
    assert r.extra["conversation_growth_bytes"] > 0


def test_differential_polls_do_not_carry_the_conversation():
    r = run_one("poll:3", clients=50, admins=0, duration=600.0, message_interval=10.0)
    assert "conversation_growth_bytes" not in r.extra
