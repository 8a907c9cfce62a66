"""The windows of a load test: drain per strategy."""

from __future__ import annotations

import pytest

from loadtests.steps import drain_seconds, warm_up_seconds
from pollbench.strategies import parse_strategy

DRAINS = [("poll:3", 5.0), ("seed-dashboard:10", 12.0), ("adaptive", 32.0), ("longpoll", 3.0), ("sse", 3.0)]


@pytest.mark.parametrize(("spec", "seconds"), DRAINS)
def test_drain_covers_the_slowest_poll(spec: str, seconds: float) -> None:
    assert drain_seconds(parse_strategy(spec)) == seconds


def test_hidden_adaptive_tabs_drain_for_their_throttled_timer() -> None:
    assert drain_seconds(parse_strategy("adaptive"), hidden_fraction=0.5) == 62.0


def test_warm_up_waits_for_the_ramp_and_one_interval_but_at_most_half_the_sending() -> None:
    assert warm_up_seconds(parse_strategy("poll:3"), send_for_s=30, users=100, spawn_rate=50) == 3.0
    assert warm_up_seconds(parse_strategy("poll:10"), send_for_s=30, users=10, spawn_rate=50) == 10.0
    assert warm_up_seconds(parse_strategy("poll:10"), send_for_s=8, users=10, spawn_rate=50) == 4.0
