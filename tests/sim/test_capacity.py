"""The simulated knee search: the shared search and SLO over simulated probes, and replays of counts."""

import pytest

from pollbench.capacity import Knee, KneeStep, Slo
from pollbench.scenario import Scenario
from pollbench.strategies import parse_strategy
from sim.calibration import Calibration
from sim.capacity import replay, simulated_capacity, simulated_knee, simulated_step

QUIET = Scenario(duration=120.0, admins=0, message_interval=600.0)


def test_a_small_connection_limit_binds_every_connection_holding_strategy():
    """532 descriptors less 32 of the server's own: 500 connections. poll:10 holds one keep-alive per
    client, long-poll one per order (3), SSE one stream: the knee sits just below 500 connections."""
    cal = Calibration(fd_limit=532, fd_reserve=32)
    for spec, per_client in (("poll:10", 1), ("longpoll", 3), ("sse", 1)):
        knee = simulated_knee(parse_strategy(spec), QUIET, Slo(), cal)
        assert knee.limited_by == ("connections",), spec
        assert 0.97 * 500 <= knee.max_clients * per_client < 500, spec
        assert knee.full_core_clients == knee.max_clients and knee.full_core_limit == "connections"


def test_cpu_binds_when_each_client_costs_a_millisecond_a_second():
    """Forced 1 ms per request, poll:1, messages too rare to matter (no floor on their rate): each client
    offers 0.001 of the loop; 50 % of a core -> ~500."""
    base = QUIET.override(service_time_ms=1.0)
    knee = simulated_knee(parse_strategy("poll:1"), base, Slo(utilization=0.5, p99_s=60.0), Calibration(),
                          min_message_rate=0.0)  # fmt: skip
    assert isinstance(knee, Knee) and knee.source == "sim"
    assert 0.97 * 500 <= knee.max_clients <= 500
    assert "utilization" in knee.limited_by
    bad = min(s.clients for s in knee.steps if not s.ok and s.clients > knee.max_clients)
    assert bad - knee.max_clients <= max(1, 0.02 * knee.max_clients)  # bisected to 2 %
    assert knee.steps[0].clients == 64 and knee.steps[1].clients == 128  # start 64, growth 2


def test_under_a_quota_cpu_binds_sooner_and_scales_back_to_a_whole_core():
    base = QUIET.override(service_time_ms=1.0, server_cpu_quota=0.25)
    knee = simulated_knee(parse_strategy("poll:1"), base, Slo(utilization=0.5, p99_s=60.0), Calibration(),
                          min_message_rate=0.0)  # fmt: skip
    assert 0.97 * 125 <= knee.max_clients <= 125
    assert knee.server_cpu_quota == 0.25
    assert knee.scaled_to_full_core and knee.full_core_clients == pytest.approx(4 * knee.max_clients)


def test_memory_is_the_idle_server_plus_its_connections():
    """Each SSE stream holds 48 KiB over the idle server's 96 MiB: a 96 MiB + 500 streams budget."""
    cal = Calibration()
    slo = Slo(memory_bytes=cal.baseline_rss_bytes + 500 * cal.memory_per_connection_bytes)
    knee = simulated_knee(parse_strategy("sse"), QUIET, slo, cal)
    assert knee.limited_by == ("memory",)
    assert 490 <= knee.max_clients <= 500
    last = next(s for s in knee.steps if s.clients == knee.max_clients)
    assert last.rss_bytes == pytest.approx(cal.baseline_rss_bytes + last.open_connections * 48 * 1024)


def test_a_probe_runs_the_measured_searchs_workload():
    """probe_scenario: customers only, every message to its customer, at least 10 messages a second (the
    workload's own rate here is one message per order per 10 minutes: 0.5/s for 100 customers)."""
    step = simulated_step(parse_strategy("sse"), QUIET.override(admins=1), Slo(), Calibration(), 100)
    assert step.open_connections == 100  # no admin
    rate = step.messages / QUIET.duration
    assert 8.0 < rate < 12.0  # Poisson around 10/s over 120 s, all delivered


def test_replay_simulates_exactly_the_given_counts_in_order():
    seen: list[KneeStep] = []
    steps = replay(
        parse_strategy("poll:3"), QUIET, Slo(), Calibration(), [300, 100, 200], on_step=seen.append
    )
    assert [s.clients for s in steps] == [300, 100, 200]
    assert list(steps) == seen
    for s in steps:
        assert s.ok and s.open_connections == s.clients and s.fail_ratio == 0.0
        assert s.detail["offered_load"] == s.server_utilization


def test_a_capacity_report_holds_one_knee_per_strategy():
    cal = Calibration(fd_limit=232, fd_reserve=32)
    report = simulated_capacity(
        [parse_strategy("poll:10"), parse_strategy("ws")], QUIET, Slo(), cal, workload="unit"
    )
    assert report.source == "sim" and report.capacity_schema == 2 and report.workload == "unit"
    assert [k.strategy for k in report.knees] == ["poll:10", "ws"]
    assert report.scenario["calibration_values"]["fd_limit"] == 232
