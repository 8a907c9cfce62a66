"""The control file between a measured knee search and the Locust run it steers.

The search (in the pollbench process, which never imports Locust) decides how many receiving clients the
next probe runs and writes a :class:`Target`; the Locust shape (:mod:`loadtests.shapes`) reads it every
second and moves the run there, writing back a :class:`Status` of what is running. Both are small JSON
files replaced atomically, so neither side ever reads half a file.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Status", "Target", "read_status", "read_target", "status_path", "write_status", "write_target"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """What the search wants running."""

    receivers: int
    """Receiving clients of the strategy."""
    spawn_rate: float
    """Users started (or stopped) per second on the way there."""
    probe: int
    """Sequence number of the probe (the status echoes it once the target is reached)."""
    stop: bool = False
    """True: end the Locust run."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    """What the Locust run reports back."""

    probe: int
    """The probe whose target the shape is following."""
    users: int
    """Users running now (senders and receivers, every worker)."""
    target_users: int
    """Users the shape asked for."""
    at: float
    """Wall-clock time of the report."""


def status_path(control: Path) -> Path:
    """Where the shape reports back, next to the control file."""
    return control.with_name(control.name + ".status")


def _write(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(path)


def _read(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def write_target(path: Path, target: Target) -> None:
    _write(path, asdict(target))


def read_target(path: Path) -> Target | None:
    data = _read(path)
    if data is None:
        return None
    return Target(
        receivers=int(str(data["receivers"])),
        spawn_rate=float(str(data["spawn_rate"])),
        probe=int(str(data["probe"])),
        stop=bool(data.get("stop", False)),
    )


def write_status(path: Path, *, probe: int, users: int, target_users: int) -> None:
    _write(path, asdict(Status(probe=probe, users=users, target_users=target_users, at=time.time())))


def read_status(path: Path) -> Status | None:
    data = _read(path)
    if data is None:
        return None
    return Status(
        probe=int(str(data["probe"])),
        users=int(str(data["users"])),
        target_users=int(str(data["target_users"])),
        at=float(str(data["at"])),
    )
