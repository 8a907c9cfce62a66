"""End to end: a small calibration against its own reference server, read back by the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests import calibrate as calibrate_module
from loadtests.calibrate import CalibrateError, CalibrateSettings, CalibrationResult, calibrate
from loadtests.calibrate_coldstart import ColdStartSettings
from loadtests.calibrate_commit import CommitSettings
from loadtests.calibrate_http import Budget
from loadtests.calibrate_longpoll import LongPollSettings
from loadtests.calibrate_memory import MemorySettings
from loadtests.calibrate_push import PushSettings
from loadtests.calibrate_scaling import ScalingSettings
from sim.calibration import Calibration, ServiceTimes, load_calibration

TINY = CalibrateSettings(
    budget=Budget(cpu_s=0.1, max_s=3.0),
    longpoll=LongPollSettings(waiters=1000, cpu_s=0.05, max_rounds=4, orders=10),
    push=PushSettings(subscribers=50, max_posts=100, heartbeat_streams=300),
    memory=MemorySettings(
        connections=100, keepalive=200, idle_window_s=0.2, settle_pause_s=0.2, settle_max_s=1.5
    ),
    scaling=ScalingSettings(connections=(20, 400), windows=5, cpu_s=0.04),
    cold_start=ColdStartSettings(gaps_ms=(0.3, 3.0, 30.0), rounds=2, window_s=0.15, max_requests=100),
    commit=CommitSettings(posts=50, spacing_s=0.005),
    customers=12,
    time_limit_s=15.0,
)


@pytest.fixture(scope="module")
def result() -> CalibrationResult:
    steps: list[tuple[str, float]] = []
    res = calibrate(settings=TINY, progress=lambda what, done: steps.append((what, done)))
    res.meta["_progress"] = steps  # kept for the progress test only
    return res


@pytest.fixture(scope="module")
def written(result: CalibrationResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cal") / "calibration.json"
    data = json.loads(result.to_json())
    data["meta"].pop("_progress")
    path.write_text(json.dumps(data))
    return path


def test_json_loads_in_the_simulator(written: Path, result: CalibrationResult) -> None:
    cal = load_calibration(written)
    assert cal == result.calibration
    assert cal.meta["noop_us"] == pytest.approx(result.noop_s * 1e6, rel=0.01)


def test_every_service_time_is_measured_and_positive(result: CalibrationResult) -> None:
    measured = result.calibration.service_ms
    for name in ServiceTimes.__dataclass_fields__:
        assert getattr(measured, name) > 0, name
    # every field comes from a sample of its own (the long-poll reply from the woken one, push from both)
    sources = {"longpoll_reply": ["longpoll_woken"], "push": ["push_sse", "push_ws"]}
    for name in ServiceTimes.__dataclass_fields__:
        for kind in sources.get(name, [name]):
            assert result.samples[kind].count > 0, kind


def test_service_times_are_ordered_like_the_work(result: CalibrationResult) -> None:
    """A 304 is answered from memory; a since-poll with news reads SQLite; a POST commits to disk.

    (The full ~2 KB poll of an unchanged order comes from the server's body cache and costs about what a
    304 does, so it is not ordered against it.)"""
    s = result.calibration.service_ms
    assert s.orders_304 < s.since
    assert s.since_empty < s.since
    assert s.post > 2 * s.orders_304


def test_sample_sizes_are_recorded(result: CalibrationResult) -> None:
    samples = result.meta["samples"]
    for kind in ("noop", "orders_304", "since", "post"):  # request batches: sized to 0.1 s of CPU here
        assert samples[kind]["cpu_s"] >= 0.03, kind  # whole ticks of real CPU behind every figure
    for kind, sample in samples.items():
        assert sample["count"] > 0 and sample["cpu_s"] > 0, kind
        resolution = result.meta["clock_resolution_s"]
        assert sample["resolution_share"] == pytest.approx(resolution / sample["cpu_s"], rel=0.02), kind


def test_wire_bytes_add_up_to_a_2kb_full_poll(result: CalibrationResult) -> None:
    b = result.calibration.bytes
    full = b.request + b.response_headers + b.full_messages_body
    assert 1800 < full < 3200  # the seed's "~2 KB per poll", headers included
    assert b.ws_ping == 8  # masked empty ping (6) + unmasked empty pong (2)


def test_memory_per_connection_is_measured(result: CalibrationResult) -> None:
    per = result.calibration.memory_per_connection_bytes
    assert per != Calibration().memory_per_connection_bytes
    assert 1024 < per < 256 * 1024
    memory = result.meta["memory"]
    assert {memory[k]["connections"] for k in ("sse", "ws")} == {100}


def test_progress_reaches_the_end(result: CalibrationResult) -> None:
    steps = result.meta["_progress"]
    fractions = [done for _what, done in steps]
    assert fractions == sorted(fractions)
    assert fractions[-1] == pytest.approx(1.0)


def test_machine_reference_is_the_noop_cpu_per_request() -> None:
    """The yardstick `pollbench check` normalises by: a few tens of µs of server CPU per no-op request."""
    from loadtests.calibrate import machine_reference_s

    noop_s = machine_reference_s(cpu_s=0.05)
    assert 5e-6 < noop_s < 2e-3


def test_the_capacity_fields_are_measured(written: Path) -> None:
    """Every field that bounds a process's clients is in the file and loads back measured, not defaulted."""
    raw = json.loads(written.read_text())
    for key in ("connection_scaling", "cold_start", "commit_ms", "memory_per_keepalive_bytes",
                "baseline_rss_bytes", "fd_limit", "fd_reserve"):  # fmt: skip
        assert key in raw, key
    cal, default = load_calibration(written), Calibration()
    assert cal.baseline_rss_bytes != default.baseline_rss_bytes
    assert cal.memory_per_keepalive_bytes != default.memory_per_keepalive_bytes
    assert 0 < cal.fd_reserve < 200  # listening socket, database files, event loop, pipes


def test_connection_scaling_points_ascend_and_stay_sane(result: CalibrationResult) -> None:
    points = result.calibration.connection_scaling.points
    assert [n for n, _f in points] == [20, 400]
    # Sanity bounds, not tuned numbers. At saturation requests share event-loop iterations, which makes
    # them up to about half as cheap as the 2-in-flight reference (0.75 on a quiet 2-core machine, ~1.0
    # on a busy one); more connections never make a request much cheaper.
    assert all(0.5 < f < 3.0 for _n, f in points)
    assert points[-1][1] >= 0.8 * points[0][1]
    meta = result.meta["connection_scaling"]["points"]
    assert [len(p["windows_us"]) for p in meta] == [5, 5]
    assert [len(p["reference_windows_us"]) for p in meta] == [6, 6]  # around every window


def test_cold_start_is_fitted_from_every_gap(result: CalibrationResult) -> None:
    gaps = result.meta["cold_start"]["gaps"]
    assert [g["gap_ms"] for g in gaps] == [0.0, 0.3, 3.0, 30.0]  # back to back first
    assert all(g["requests"] > 0 and g["mean_gap_ms"] >= g["gap_ms"] for g in gaps)
    cs = result.calibration.cold_start
    assert cs.max_ms >= 0 and cs.tau_ms > 0


def test_commit_time_is_the_push_latency_less_the_push(result: CalibrationResult) -> None:
    commit = result.meta["commit"]
    assert commit["posts"] == len(commit["samples_ms"]) >= 50
    assert commit["latency_ms"]["p10"] <= commit["latency_ms"]["p50"] <= commit["latency_ms"]["p90"]
    assert result.calibration.commit_ms > 0
    expected = max(0.0, commit["latency_ms"]["p50"] - result.calibration.service_ms.push)
    assert result.calibration.commit_ms == pytest.approx(expected, abs=1e-3)


def test_the_descriptor_limit_is_the_spawned_servers(result: CalibrationResult) -> None:
    """The spawned server raises its soft limit to the hard one it inherits from this process."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    expected = hard if hard != resource.RLIM_INFINITY else None
    assert result.calibration.fd_limit == (expected or result.calibration.fd_limit)
    assert result.meta["idle_server"]["fd_limit"] == result.calibration.fd_limit
    assert result.meta["idle_server"]["cpu_per_s"] < 0.05  # an idle server spends (almost) nothing
    assert result.meta["memory"]["keepalive"]["connections"] == 200


def test_the_quota_is_passed_to_the_servers_and_recorded_in_meta(
    result: CalibrationResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert result.meta["server_cpu_quota"] is None
    seen: list[float | None] = []

    async def own_servers(settings: object, workdir: Path, steps: object, cpu_quota: float | None) -> object:
        seen.append(cpu_quota)
        return result

    monkeypatch.setattr(calibrate_module, "_with_own_servers", own_servers)
    quota_result = calibrate(settings=TINY, cpu_quota=0.5)
    assert seen == [0.5]
    assert quota_result.meta["server_cpu_quota"] == 0.5
    assert json.loads(quota_result.to_json())["meta"]["server_cpu_quota"] == 0.5


def test_a_quota_for_a_running_server_is_refused() -> None:
    with pytest.raises(CalibrateError, match="only to servers calibration starts itself"):
        calibrate("http://127.0.0.1:9", fixtures=Path("f.json"), cpu_quota=0.5)
