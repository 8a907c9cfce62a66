"""The shared reconnect policy: capped exponential ceilings, full jitter inside them, bad config refused."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from pollbench.reconnect import Backoff


def test_ceiling_doubles_until_the_cap() -> None:
    policy = Backoff(initial_s=0.5, factor=2, cap_s=3)
    assert [policy.ceiling(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_huge_attempt_counts_stay_at_the_cap() -> None:
    assert Backoff(cap_s=10).ceiling(10_000) == 10


def test_without_jitter_the_delay_is_the_ceiling() -> None:
    assert Backoff(jitter=False).delay(2) == Backoff().ceiling(2)


@pytest.mark.parametrize("rng", [random.Random(7), np.random.default_rng(7)])
def test_jittered_delays_fill_zero_to_ceiling(rng: random.Random | np.random.Generator) -> None:
    policy = Backoff(initial_s=1, cap_s=8)
    delays = [policy.delay(3, rng) for _ in range(4000)]
    assert min(delays) >= 0 and max(delays) <= 8
    # Uniform on [0, 8]: mean 4, standard error 8 / sqrt(12 * 4000) ~ 0.037; 5 SE tolerance.
    assert abs(sum(delays) / len(delays) - policy.mean_delay(3)) < 0.19


@pytest.mark.parametrize(
    "kwargs",
    [{"initial_s": 0}, {"factor": 0.5}, {"initial_s": 2, "cap_s": 1}],
)
def test_bad_policy_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError):
        Backoff().ceiling(-1)
