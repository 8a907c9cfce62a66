"""Judging capacity steps: latency of the window's messages, late messages, failures, saturation."""

from __future__ import annotations

import math

import pytest

from loadtests.steps import StepLimits, StepVerdict, drain_seconds, judge_step
from pollbench.strategies import parse_strategy

LIMITS = StepLimits(p99_s=2.0, fail_ratio=0.01, server_utilization=0.9)


def _judge(
    sent: list[tuple[str, int, float]],
    delivered: list[tuple[str, int, float, float]],
    *,
    requests: int = 100,
    failures: int = 0,
    util: float = 0.2,
    cpu: float = 10.0,
    step_end: float = 20.0,
) -> StepVerdict:
    return judge_step(
        step=1, users=50, window=(5.0, 15.0), step_end=step_end, sent=sent, delivered=delivered,
        requests=requests, failures=failures, server_utilization=util, generator_cpu_percent=cpu,
        limits=LIMITS,
    )  # fmt: skip


def test_only_messages_committed_in_the_window_are_judged() -> None:
    sent = [("o1", 1, 4.0), ("o1", 2, 6.0), ("o2", 3, 14.0), ("o2", 4, 16.0)]
    delivered = [("o1", 1, 4.0, 9.0), ("o1", 2, 6.0, 6.5), ("o2", 3, 14.0, 14.25), ("o2", 4, 16.0, 30.0)]
    v = _judge(sent, delivered)
    assert v.ok and v.messages == 2 and v.undelivered == 0
    assert v.p50_s == pytest.approx(0.375)


def test_a_missing_message_counts_with_its_wait_so_far() -> None:
    sent = [("o1", s, 6.0 + s / 10) for s in range(50)]
    delivered = [("o1", s, 6.0 + s / 10, 6.1 + s / 10) for s in range(49)]  # the last one never arrives
    v = _judge(sent, delivered)
    assert v.undelivered == 1
    assert v.p99_s > 2.0 and not v.ok and "p99" in v.reasons[0]


def test_a_message_delivered_after_the_step_ended_is_late() -> None:
    v = _judge([("o1", 1, 10.0)], [("o1", 1, 10.0, 25.0)], step_end=20.0)
    assert v.undelivered == 1 and v.p99_s == pytest.approx(10.0)


def test_failures_above_the_ratio_break_the_step() -> None:
    v = _judge([("o1", 1, 10.0)], [("o1", 1, 10.0, 10.1)], requests=100, failures=2)
    assert not v.ok and v.reasons == ["failures 2.0% > 1%"]


def test_a_saturated_server_or_load_generator_breaks_the_step() -> None:
    v = _judge([("o1", 1, 10.0)], [("o1", 1, 10.0, 10.1)], util=0.95, cpu=97.0)
    assert not v.ok and len(v.reasons) == 2 and "Locust is the bottleneck" in v.reasons[1]


def test_a_window_without_messages_cannot_pass() -> None:
    v = _judge([], [])
    assert not v.ok and math.isnan(v.p99_s)


DRAINS = [("poll:3", 5.0), ("seed-dashboard:10", 12.0), ("adaptive", 32.0), ("longpoll", 3.0), ("sse", 3.0)]


@pytest.mark.parametrize(("spec", "seconds"), DRAINS)
def test_drain_covers_the_slowest_poll(spec: str, seconds: float) -> None:
    assert drain_seconds(parse_strategy(spec)) == seconds
