"""A CPU-quota cgroup: the server under test held to a share of one core, so its knee is within reach.

The kernel's CFS bandwidth control gives a group ``quota`` µs of CPU per ``period`` µs (at 0.2 a busy
process runs 20 ms, then waits 80 ms). cgroup v2 writes both to ``cpu.max``; v1 to ``cpu.cfs_quota_us`` and
``cpu.cfs_period_us``. Explained in docs/loadtests.md ("Running the server under a CPU quota").
"""

from __future__ import annotations

import errno
import itertools
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from pollbench.scenario import ScenarioError, check_cpu_quota

__all__ = [
    "PERIOD_US",
    "ROOT_ENV",
    "CpuController",
    "CpuQuota",
    "CpuQuotaError",
    "Throttling",
    "find_controller",
]

PERIOD_US = 100_000
"""CFS period of the group, µs (the kernel's default): the quota is granted per 100 ms."""

MIN_QUOTA_US = 1000
"""The smallest quota the kernel accepts, µs per period."""

PREFIX = "pollbench-"
"""Name prefix of every group this module creates (``pollbench-<pid>-<n>``)."""

ROOT_ENV = "POLLBENCH_CGROUP"
"""Environment variable naming the cgroup directory to create groups under (e.g. a delegated one)."""

V2_CANDIDATES = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))
V1_CANDIDATES = (Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup/cpu,cpuacct"))

_serial = itertools.count()


class CpuQuotaError(RuntimeError):
    """No CPU quota can be set here (the message says which paths were tried and what is needed)."""


@dataclass(frozen=True, slots=True)
class Throttling:
    """A group's bandwidth counters from ``cpu.stat``: how often the quota ran out."""

    nr_periods: int
    """Enforcement periods (100 ms each) in which the group wanted CPU."""
    nr_throttled: int
    """Periods in which it used its whole quota and was stopped until the next one."""
    throttled_s: float
    """Total time its threads spent stopped, seconds."""

    def __sub__(self, earlier: Throttling) -> Throttling:
        return Throttling(
            self.nr_periods - earlier.nr_periods,
            self.nr_throttled - earlier.nr_throttled,
            self.throttled_s - earlier.throttled_s,
        )

    def as_dict(self) -> dict[str, float]:
        return {"nr_periods": self.nr_periods, "nr_throttled": self.nr_throttled,
                "throttled_s": round(self.throttled_s, 6)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CpuController:
    """A writable CPU controller: the directory new groups go under, and which cgroup version it is."""

    parent: Path
    """Where groups are created (a hierarchy's root, or a cgroup delegated to this user)."""
    version: Literal["v1", "v2"]
    """cgroup v2 (unified: ``cpu.max``) or v1 (``cpu.cfs_quota_us``)."""

    def write_limit(self, group: Path, quota_us: int) -> None:
        if self.version == "v2":
            (group / "cpu.max").write_text(f"{quota_us} {PERIOD_US}\n")
        else:
            # The period first: a quota is checked against the current period (and v1 children inherit it).
            (group / "cpu.cfs_period_us").write_text(f"{PERIOD_US}\n")
            (group / "cpu.cfs_quota_us").write_text(f"{quota_us}\n")

    def throttling(self, group: Path) -> Throttling:
        stat: dict[str, int] = {}
        for line in (group / "cpu.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            stat[key] = int(value or 0)
        # v2 counts stopped time in µs, v1 in ns.
        stopped = stat["throttled_usec"] / 1e6 if self.version == "v2" else stat["throttled_time"] / 1e9
        return Throttling(stat["nr_periods"], stat["nr_throttled"], stopped)


def _writable(path: Path, name: str) -> bool:
    return (path / name).is_file() and os.access(path, os.W_OK) and os.access(path / name, os.W_OK)


def _as_controller(path: Path) -> CpuController | None:
    """The controller at ``path`` if it is a writable cgroup directory with the CPU controller."""
    if (path / "cgroup.controllers").is_file():  # v2: cpu must be available to children
        if "cpu" in (path / "cgroup.controllers").read_text().split() and _writable(
            path, "cgroup.subtree_control"
        ):
            return CpuController(path, "v2")
        return None
    if _writable(path, "cpu.cfs_quota_us") and _writable(path, "cgroup.procs"):
        return CpuController(path, "v1")
    return None


def find_controller(root: Path | None = None) -> CpuController:
    """The writable CPU controller at ``root`` (or ``$POLLBENCH_CGROUP``), else the first usual mount
    that has one: v2, then v1."""
    if root is None and os.environ.get(ROOT_ENV):
        root = Path(os.environ[ROOT_ENV])
    tried = (root,) if root is not None else (*V2_CANDIDATES, *V1_CANDIDATES)
    for path in tried:
        found = _as_controller(path)
        if found is not None:
            return found
    raise CpuQuotaError(
        "no writable cgroup CPU controller (tried "
        + ", ".join(str(p) for p in tried)
        + f"): a CPU quota needs root, or a cgroup delegated to this user with the cpu controller "
        f"(name its directory in {ROOT_ENV}); otherwise run without --server-cpu-quota"
    )


class CpuQuota:
    """A fresh ``pollbench-<pid>-<n>`` group capped at ``share`` of one core, removed on exit.

    ``root`` is the cgroup directory to create it under (default: ``$POLLBENCH_CGROUP``, else the usual
    mounts). Nothing touches the system before :meth:`create` (or ``with``)."""

    def __init__(self, share: float, *, root: Path | None = None) -> None:
        try:
            self.share = check_cpu_quota(share, "the CPU quota")
        except ScenarioError as exc:
            raise CpuQuotaError(str(exc)) from None
        self.root = root
        self.quota_us = round(self.share * PERIOD_US)
        if self.quota_us < MIN_QUOTA_US:
            raise CpuQuotaError(
                f"a CPU quota of {self.share:g} is below the kernel's minimum of {MIN_QUOTA_US} µs per "
                f"{PERIOD_US} µs period; use at least {MIN_QUOTA_US / PERIOD_US:g}"
            )
        self.controller: CpuController | None = None
        self.path: Path | None = None

    @property
    def version(self) -> str | None:
        return None if self.controller is None else self.controller.version

    def create(self) -> CpuQuota:
        """Make the group and set its limit; CpuQuotaError when no controller can."""
        controller = find_controller(self.root)
        _remove_stale(controller.parent)
        _enable_cpu(controller)
        path = _make_group(controller.parent)
        try:
            controller.write_limit(path, self.quota_us)
        except OSError as exc:
            _rmdir(path)
            raise CpuQuotaError(f"cannot set the CPU quota of {path}: {exc.strerror}") from None
        self.controller, self.path = controller, path
        return self

    def add(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) into the group."""
        assert self.path is not None, "create() the group first"
        try:
            (self.path / "cgroup.procs").write_text(f"{pid}\n")
        except OSError as exc:
            raise CpuQuotaError(f"cannot move process {pid} into {self.path}: {exc.strerror}") from None

    def pids(self) -> list[int]:
        """Processes in the group now."""
        if self.path is None:
            return []
        return _procs(self.path)

    def throttling(self) -> Throttling:
        """The group's counters since it was created."""
        assert self.controller is not None and self.path is not None, "create() the group first"
        return self.controller.throttling(self.path)

    def describe(self) -> dict[str, object]:
        """Share, cgroup version, quota and period: what a result records next to the counters."""
        return {
            "share": self.share,
            "cgroup": self.version,
            "quota_us": self.quota_us,
            "period_us": PERIOD_US,
        }

    def remove(self) -> None:
        """Move what is left back to the parent and delete the group; safe to call twice."""
        path, self.path = self.path, None
        if path is None or self.controller is None:
            return
        for pid in _procs(path):
            try:
                (self.controller.parent / "cgroup.procs").write_text(f"{pid}\n")
            except OSError:
                pass  # it just exited
        if not _rmdir(path, wait_s=2.0):
            # Not fatal (the run's results stand); the next CpuQuota removes it once it is empty.
            warnings.warn(f"could not remove the cgroup {path}; it is removed by the next run", stacklevel=2)

    def __enter__(self) -> CpuQuota:
        return self.create()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()


def _procs(group: Path) -> list[int]:
    try:
        return [int(p) for p in (group / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def _enable_cpu(controller: CpuController) -> None:
    """v2 gives a child the cpu files only when the parent's subtree_control lists cpu."""
    if controller.version == "v1":
        return
    control = controller.parent / "cgroup.subtree_control"
    if "cpu" in control.read_text().split():
        return
    try:
        control.write_text("+cpu\n")
    except OSError as exc:
        # EBUSY: the parent holds processes itself (the "no internal processes" rule of a non-root v2 group).
        raise CpuQuotaError(
            f"cannot enable the cpu controller in {control} ({exc.strerror}); name a cgroup with no "
            f"processes of its own in {ROOT_ENV}, or run as root on the hierarchy's root"
        ) from None


def _make_group(parent: Path) -> Path:
    for _ in range(1000):
        path = parent / f"{PREFIX}{os.getpid()}-{next(_serial)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise CpuQuotaError(f"cannot create a cgroup under {parent}: {exc.strerror}") from None
    raise CpuQuotaError(f"cannot find a free group name under {parent}")


def _remove_stale(parent: Path) -> None:
    """Empty groups left by pollbench processes that died without cleaning up."""
    for group in parent.glob(f"{PREFIX}*-*"):
        try:
            owner = int(group.name.removeprefix(PREFIX).split("-")[0])
        except ValueError:
            continue
        if not _alive(owner) and group.is_dir() and not _procs(group):
            _rmdir(group)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # somebody else's process: alive
    return True


def _rmdir(path: Path, *, wait_s: float = 0.0) -> bool:
    """rmdir a cgroup; a process that just exited can keep it busy for a moment (EBUSY)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            path.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
