"""Tests that put a real process under a CPU quota run only where a writable cgroup CPU controller is."""

from __future__ import annotations

import pytest

from loadtests.cpu_quota import CpuController, CpuQuotaError, find_controller


def real_controller() -> CpuController | None:
    """The controller CpuQuota would use on this machine, or None."""
    try:
        return find_controller()
    except CpuQuotaError:
        return None


needs_cpu_controller = pytest.mark.skipif(
    real_controller() is None,
    reason="no writable cgroup CPU controller here (needs root or a delegated cgroup)",
)
