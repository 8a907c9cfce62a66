"""loadtests.cpu_quota: a CPU-quota cgroup caps a process, and leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from loadtests.cpu_quota import CpuController, CpuQuota, CpuQuotaError, Throttling, find_controller
from tests.cgroups import needs_cpu_controller, real_controller

REAL = real_controller()


def _cgroup_of(pid: int) -> str:
    return Path(f"/proc/{pid}/cgroup").read_text()


def _cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


@needs_cpu_controller
def test_a_busy_loop_under_a_fifth_of_a_core_gets_a_fifth_and_its_group_is_gone_afterwards() -> None:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        with CpuQuota(0.2) as quota:
            assert quota.path is not None
            group = quota.path
            quota.add(busy.pid)
            assert quota.pids() == [busy.pid] and group.name in _cgroup_of(busy.pid)
            proc = psutil.Process(busy.pid)
            t0, c0 = time.monotonic(), _cpu_s(proc)
            time.sleep(2.0)
            cores = (_cpu_s(proc) - c0) / (time.monotonic() - t0)
            throttled = quota.throttling()
        # 20 periods of 100 ms: the 10 ms CPU tick makes each reading coarse, the bounds allow for it and
        # for a busy machine that gives the loop less than its quota.
        assert 0.12 <= cores <= 0.30
        assert throttled.nr_throttled > 0 and throttled.throttled_s > 0
        assert not group.exists()
        assert group.name not in _cgroup_of(busy.pid)  # moved back to the parent on exit
    finally:
        busy.kill()
        busy.wait(timeout=10)


@needs_cpu_controller
def test_an_empty_group_of_a_dead_pollbench_process_is_removed_when_a_new_one_is_made() -> None:
    assert REAL is not None
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=10)
    stale = REAL.parent / f"pollbench-{dead.pid}-0"
    stale.mkdir()
    try:
        with CpuQuota(0.5):
            assert not stale.exists()
    finally:
        if stale.exists():
            stale.rmdir()


def test_no_controller_under_the_root_is_an_error_that_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(CpuQuotaError) as exc:
        CpuQuota(0.2, root=tmp_path).create()
    message = str(exc.value)
    assert f"tried {tmp_path}" in message
    assert "needs root, or a cgroup delegated to this user" in message
    assert list(tmp_path.iterdir()) == []


def test_the_environment_names_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLLBENCH_CGROUP", str(tmp_path))
    with pytest.raises(CpuQuotaError, match=f"tried {tmp_path}\\)"):
        find_controller()


@pytest.mark.parametrize("share", [0, -0.1, 1.5, float("nan"), True])
def test_a_share_outside_0_to_1_is_refused(share: float) -> None:
    with pytest.raises(CpuQuotaError, match="0 < Q <= 1"):
        CpuQuota(share)


def test_a_share_below_the_kernels_minimum_quota_is_refused() -> None:
    with pytest.raises(CpuQuotaError, match="at least 0.01"):
        CpuQuota(0.005)


def _fake_v1(root: Path) -> Path:
    for name in ("cpu.cfs_quota_us", "cpu.cfs_period_us", "cgroup.procs"):
        (root / name).write_text("")
    return root


def test_v1_writes_period_and_quota_in_microseconds(tmp_path: Path) -> None:
    quota = CpuQuota(0.25, root=_fake_v1(tmp_path)).create()
    assert quota.version == "v1" and quota.path is not None
    assert (quota.path / "cpu.cfs_period_us").read_text() == "100000\n"
    assert (quota.path / "cpu.cfs_quota_us").read_text() == "25000\n"
    with pytest.warns(UserWarning, match="could not remove"):  # a plain directory with files: not a cgroup
        quota.remove()


def test_v2_enables_cpu_in_the_parent_and_writes_cpu_max(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory\n")
    (tmp_path / "cgroup.subtree_control").write_text("memory\n")
    quota = CpuQuota(0.2, root=tmp_path).create()
    assert quota.version == "v2" and quota.path is not None
    assert quota.path.name.startswith("pollbench-")
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu\n"
    assert (quota.path / "cpu.max").read_text() == "20000 100000\n"
    with pytest.warns(UserWarning):
        quota.remove()


def test_v2_without_the_cpu_controller_is_not_a_controller(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("hugetlb\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    with pytest.raises(CpuQuotaError, match="no writable cgroup CPU controller"):
        find_controller(tmp_path)


def test_throttling_counters_are_read_in_seconds_for_both_versions(tmp_path: Path) -> None:
    (tmp_path / "cpu.stat").write_text("nr_periods 20\nnr_throttled 18\nthrottled_time 1500000000\n")
    v1 = CpuController(tmp_path, "v1").throttling(tmp_path)
    (tmp_path / "cpu.stat").write_text("usage_usec 9\nnr_periods 20\nnr_throttled 18\nthrottled_usec 1500000")
    v2 = CpuController(tmp_path, "v2").throttling(tmp_path)
    assert v1 == v2 == Throttling(20, 18, 1.5)
    since = v1 - Throttling(5, 3, 0.5)
    assert since.as_dict() == {"nr_periods": 15, "nr_throttled": 15, "throttled_s": 1.0}
