"""CI thresholds judge exact latency percentiles and failure ratios."""

from __future__ import annotations

import math

from loadtests.thresholds import Thresholds, violations
from pollbench.results import LatencyStats, MessageCounts, QueueWait, StrategyResult


def _result(p95: float, p99: float, fail_ratio: float = 0.0) -> StrategyResult:
    return StrategyResult(
        latency_s=LatencyStats(mean=p95 / 2, p50=p95 / 2, p95=p95, p99=p99, max=p99, count=100),
        requests_per_s=1.0,
        empty_poll_fraction=0.5,
        bytes_per_client_per_min=1.0,
        bytes_per_delivery=1.0,
        server_utilization=0.1,
        queue_wait_s=QueueWait(mean=math.nan, p99=math.nan),
        open_connections=1.0,
        energy_j_per_client_hour=math.nan,
        messages=MessageCounts(sent=100, delivered=100),
        extra={"fail_ratio": fail_ratio},
    )


def test_within_limits_nothing_fails() -> None:
    limits = Thresholds(p99_delivery_s=3.0, p95_delivery_s=2.0, fail_ratio=0.01)
    assert violations({"poll:3": _result(1.9, 2.9, 0.005)}, limits) == []


def test_each_broken_limit_is_one_sentence_naming_the_strategy() -> None:
    limits = Thresholds(p99_delivery_s=3.0, p95_delivery_s=2.0, fail_ratio=0.01)
    out = violations({"poll:3": _result(2.5, 3.5, 0.02), "sse": _result(0.01, 0.02)}, limits)
    assert len(out) == 3 and all(line.startswith("poll:3: ") for line in out)


def test_no_deliveries_fails_a_latency_check() -> None:
    assert violations({"ws": _result(math.nan, math.nan)}, Thresholds(p99_delivery_s=1.0))


def test_unset_limits_check_nothing() -> None:
    assert not Thresholds().any
    assert violations({"ws": _result(math.nan, 99.0, 0.9)}, Thresholds()) == []
