"""The capacity schema, the SLO, the knee search and servers needed (pollbench.capacity)."""

import json
import math

import pytest

from pollbench.capacity import (
    CapacityError,
    CapacityReport,
    Knee,
    KneeStep,
    Slo,
    full_core_clients,
    knee_from_search,
    read_capacity,
    search_knee,
    servers_needed,
    with_full_core,
    write_capacity,
)
from pollbench.strategies import parse_strategy


def step(n: int, ok: bool, *, conns_per_client: float = 1.0, conclusive: bool = True, limit="utilization"):
    return KneeStep(
        clients=n,
        p50_s=1.5,
        p99_s=3.0,
        server_utilization=0.5,
        open_connections=n * conns_per_client,
        rss_bytes=100e6 + n * 20_000,
        fail_ratio=0.0,
        ok=ok,
        limited_by=() if ok else (limit,),
        messages=100,
        conclusive=conclusive,
        detail={"baseline_rss_bytes": 100e6},
    )


def threshold_probe(knee: int, calls: list[int], **kw):
    def probe(n: int) -> KneeStep:
        calls.append(n)
        return step(n, n <= knee, **kw)

    return probe


def test_search_grows_then_bisects_to_the_tolerance():
    calls: list[int] = []
    out = search_knee(threshold_probe(1234, calls), start=100, ceiling=100_000, growth=2.0, tolerance=0.1)
    assert calls[:6] == [100, 200, 400, 800, 1600, 1200]
    assert out.max_clients <= 1234 < out.max_clients * 1.1
    assert out.limited_by == ("utilization",)
    assert not out.ceiling
    bad = min(s.clients for s in out.steps if not s.ok and s.clients > out.max_clients)
    assert bad - out.max_clients <= 0.1 * out.max_clients


def test_a_failing_first_probe_steps_down():
    calls: list[int] = []
    out = search_knee(threshold_probe(30, calls), start=100, ceiling=1000, growth=2.0, tolerance=0.1)
    assert calls[:3] == [100, 50, 25]
    assert 27 <= out.max_clients <= 30


def test_nothing_passes_gives_zero():
    out = search_knee(threshold_probe(0, []), start=8, ceiling=100, growth=2.0, floor=1)
    assert out.max_clients == 0
    assert out.limited_by == ("utilization",)
    assert "even 1" in out.note


def test_ceiling_reached_within_the_slo():
    out = search_knee(threshold_probe(10**9, []), start=100, ceiling=1000, growth=2.0)
    assert out.max_clients == 1000 and out.ceiling and out.limited_by == ()
    assert "ceiling" in out.note


def test_an_inconclusive_probe_ends_the_search_as_a_ceiling():
    def probe(n: int) -> KneeStep:
        return step(n, True, conclusive=n < 400)

    out = search_knee(probe, start=100, ceiling=10_000, growth=2.0)
    assert out.max_clients == 200 and out.ceiling
    assert "load generator" in out.note


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError, match="bounds"):
        search_knee(threshold_probe(5, []), start=10, ceiling=5)


def test_default_p99_follows_the_strategy():
    slo = Slo()
    assert slo.p99_for(parse_strategy("poll:3")) == 5.0
    assert slo.p99_for(parse_strategy("adaptive")) == 32.0
    assert slo.p99_for(parse_strategy("sse")) == 2.0
    assert Slo(p99_s=9.0).p99_for(parse_strategy("sse")) == 9.0


def judge(slo: Slo, **kw):
    base = dict(p99_s=1.0, messages=50, utilization=0.5, fail_ratio=0.0, open_connections=100,
                connection_limit=1000, rss_bytes=1e8)  # fmt: skip
    base.update(kw)
    return slo.judge(parse_strategy("poll:3"), **base)


def test_judge_names_every_broken_limit():
    slo = Slo(utilization=0.8, memory_bytes=int(2e8))
    assert judge(slo) == ()
    assert judge(slo, p99_s=6.0) == ("latency",)
    assert judge(slo, messages=0) == ("latency",)
    assert judge(slo, utilization=0.81) == ("utilization",)
    assert judge(slo, utilization=math.nan) == ("utilization",)  # unknown CPU never passes
    assert judge(slo, open_connections=1000) == ("connections",)
    assert judge(Slo(connections=50), open_connections=60) == ("connections",)
    assert judge(slo, rss_bytes=3e8) == ("memory",)
    assert judge(slo, fail_ratio=0.02) == ("failures",)


def test_bad_slo_is_refused():
    for bad in (dict(utilization=1.5), dict(p99_s=0), dict(fail_ratio=2), dict(connections=0)):
        with pytest.raises(ValueError):
            Slo(**bad)


def test_servers_needed_rounds_up():
    assert servers_needed(100_000, 4_000) == 25
    assert servers_needed(100_001, 4_000) == 26
    assert servers_needed(10, 4_000) == 1
    assert servers_needed(10, 0) is None
    assert servers_needed(10, math.nan) is None


def knee(limited_by, *, quota=0.2, clients=1000, conns=1.0, ceiling=False):
    steps = (step(clients, True, conns_per_client=conns), step(int(clients * 1.1), False))
    return Knee(strategy="poll:3", source="measured", max_clients=clients, limited_by=limited_by,
                ceiling=ceiling, server_cpu_quota=quota, steps=steps)  # fmt: skip


def test_cpu_bound_knee_scales_with_its_quota():
    assert full_core_clients(knee(("utilization",)), connection_limit=19_968, memory_budget_bytes=2e9) == (
        5000, "utilization", True)  # fmt: skip


def test_scaled_knee_is_capped_by_connections():
    """3 connections per client (long-poll): a whole core would run out of descriptors first."""
    clients, limit, scaled = full_core_clients(
        knee(("latency",), conns=3.0), connection_limit=9_000, memory_budget_bytes=2e9
    )
    assert (clients, limit, scaled) == (3000, "connections", False)


def test_connection_bound_knee_does_not_scale():
    assert full_core_clients(knee(("connections",)), connection_limit=1, memory_budget_bytes=1) == (
        1000, "connections", False)  # fmt: skip


def test_knee_on_a_whole_core_is_itself_and_a_ceiling_under_a_quota_is_unknown():
    assert full_core_clients(knee(("latency",), quota=None), connection_limit=1, memory_budget_bytes=1) == (
        1000, "latency", False)  # fmt: skip
    assert full_core_clients(knee((), ceiling=True), connection_limit=1, memory_budget_bytes=1) == (
        None, "", False)  # fmt: skip


def report(knees) -> CapacityReport:
    return CapacityReport(source="measured", workload="seed-chat", scenario={"clients": 1}, slo=Slo(),
                          knees=tuple(knees), machine={"cpus": 2})  # fmt: skip


def test_write_then_read_gives_the_same_report(tmp_path):
    outcome = search_knee(threshold_probe(700, []), start=100, ceiling=10_000)
    k = knee_from_search(outcome, strategy="poll:3", source="measured", server_cpu_quota=0.2)
    k = with_full_core(k, connection_limit=19_968, memory_budget_bytes=2e9)
    r = report([k])
    path = write_capacity(tmp_path, r)
    assert json.loads(path.read_text())["capacity_schema"] == 2
    back = read_capacity(tmp_path)
    assert back == r
    assert back.knee("poll:3") == k and back.knee("sse") is None
    assert k.scaled_to_full_core and k.full_core_clients == int(k.max_clients / 0.2)


def test_nan_is_written_as_null_and_read_back_as_nan(tmp_path):
    s = KneeStep(clients=1, p50_s=math.nan, p99_s=math.nan, server_utilization=math.nan, open_connections=1,
                 rss_bytes=1, fail_ratio=0, ok=False, limited_by=("latency",))  # fmt: skip
    k = Knee(strategy="sse", source="sim", max_clients=0, limited_by=("latency",), ceiling=False,
             server_cpu_quota=None, steps=(s,))  # fmt: skip
    write_capacity(tmp_path, report([k]))
    assert "NaN" not in (tmp_path / "capacity.json").read_text()
    assert math.isnan(read_capacity(tmp_path).knees[0].steps[0].p99_s)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"capacity_schema": 1, "curves": []}), "capacity_schema 1"),
        (json.dumps({"capacity_schema": 2, "source": "sim"}), "not a capacity report"),
        (
            json.dumps(
                {
                    "capacity_schema": 2,
                    "source": "lab",
                    "workload": "w",
                    "scenario": {},
                    "slo": {},
                    "knees": [],
                }
            ),
            "source must be",
        ),  # fmt: skip
    ],
)
def test_bad_files_get_a_clear_error(tmp_path, content, message):
    (tmp_path / "capacity.json").write_text(content)
    with pytest.raises(CapacityError, match=message):
        read_capacity(tmp_path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(CapacityError, match="no such file"):
        read_capacity(tmp_path / "nope.json")


def test_unknown_limit_is_refused(tmp_path):
    k = knee(("utilization",))
    path = write_capacity(tmp_path, report([k]))
    doc = json.loads(path.read_text())
    doc["knees"][0]["limited_by"] = ["cosmic rays"]
    path.write_text(json.dumps(doc))
    with pytest.raises(CapacityError, match="unknown limit"):
        read_capacity(path)


def test_a_probe_carries_the_workloads_rate_or_the_floor_whichever_is_higher():
    from pollbench.capacity import probe_scenario
    from pollbench.scenario import Scenario

    chat = Scenario(clients=10_000, orders_per_client=2, admins=2, message_interval=3600.0, arrivals="bursty")
    small = probe_scenario(chat, 100, min_message_rate=5.0)
    assert small.message_interval == 40.0  # 200 orders at 5 messages/s: one per order every 40 s
    assert (small.clients, small.admins, small.audience, small.arrivals) == (100, 0, "order", "poisson")
    big = probe_scenario(chat, 20_000, min_message_rate=5.0)
    assert big.message_interval == 3600.0  # 40 000 orders post 11/s on their own
    assert probe_scenario(chat, 100, min_message_rate=0).message_interval == 3600.0
