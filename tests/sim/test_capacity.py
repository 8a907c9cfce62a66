"""Capacity search: SLO checks and bisection (servers for M users: tests/pollbench/test_capacity.py)."""

import pytest

from pollbench.scenario import Scenario
from pollbench.strategies import parse_strategy
from sim.calibration import Calibration
from sim.capacity import Slo, max_clients_per_process


def test_bad_slo_is_rejected():
    with pytest.raises(ValueError, match="utilization"):
        Slo(utilization=1.5)


def test_memory_budget_bounds_push_connections():
    """Each SSE connection holds 48 KiB; a 500-connection budget allows ~500 clients."""
    cal = Calibration()
    slo = Slo(memory_bytes=500 * cal.memory_per_connection_bytes)
    base = Scenario(duration=120.0, admins=0, message_interval=600.0)
    found = max_clients_per_process(parse_strategy("sse"), base, slo, cal)
    assert 490 <= found.max_clients <= 500
    assert found.limited_by == ["memory"]


def test_utilization_bounds_polling():
    """Forced 1 ms per request, poll:1: each client offers ~0.001 of the loop; 50 % cap -> ~500 clients."""
    cal = Calibration()
    slo = Slo(utilization=0.5, p99_s=60.0)
    base = Scenario(duration=120.0, admins=0, service_time_ms=1.0, message_interval=600.0)
    found = max_clients_per_process(parse_strategy("poll:1"), base, slo, cal)
    assert 460 <= found.max_clients <= 500
    assert "utilization" in found.limited_by
