"""The control file between a knee search and its Locust run: targets and status, written atomically."""

from __future__ import annotations

from pathlib import Path

from loadtests.control import Target, read_status, read_target, status_path, write_status, write_target


def test_a_target_reads_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "control.json"
    assert read_target(path) is None
    write_target(path, Target(receivers=1200, spawn_rate=250.0, probe=3))
    assert read_target(path) == Target(receivers=1200, spawn_rate=250.0, probe=3, stop=False)
    assert not list(tmp_path.glob(".*.tmp"))  # replaced atomically, no leftovers


def test_status_sits_next_to_its_control_file(tmp_path: Path) -> None:
    control = tmp_path / "poll_3.json"
    write_status(status_path(control), probe=2, users=105, target_users=110)
    status = read_status(status_path(control))
    assert status is not None and (status.probe, status.users, status.target_users) == (2, 105, 110)
    assert status_path(control).name == "poll_3.json.status"


def test_a_half_written_file_reads_as_absent(tmp_path: Path) -> None:
    path = tmp_path / "control.json"
    path.write_text('{"receivers": 1')
    assert read_target(path) is None
