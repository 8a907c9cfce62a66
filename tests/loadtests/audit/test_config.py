"""Audit configuration: the issue's defaults, derived sizes, impossible values refused."""

from __future__ import annotations

import math

import pytest

from loadtests.audit.config import AuditConfig
from pollbench.strategies import parse_strategies

ALL = parse_strategies("all")


def test_defaults_are_the_issues_ten_thousand_messages_over_five_hundred_orders() -> None:
    config = AuditConfig(strategies=ALL)
    assert (config.messages, config.orders, len(config.strategies)) == (10_000, 500, 8)
    assert config.customers == 100


def test_customers_cover_every_order() -> None:
    config = AuditConfig(strategies=ALL, orders=11, orders_per_customer=5)
    assert config.customers == 3


def test_the_rate_spreads_the_messages_over_most_of_the_sending_phase() -> None:
    assert AuditConfig(strategies=ALL, messages=570, duration_s=60).rate_per_s == pytest.approx(10)


@pytest.mark.parametrize(
    ("field", "value"),
    [("orders", 0), ("messages", 0), ("senders", 0), ("duration_s", 0.0), ("drain_s", math.inf),
     ("kill_every_s", -1.0), ("strategies", ())],
)  # fmt: skip
def test_impossible_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValueError):
        AuditConfig(**{"strategies": ALL, field: value})  # type: ignore[arg-type]
