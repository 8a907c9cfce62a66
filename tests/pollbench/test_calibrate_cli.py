"""`pollbench calibrate` on the command line: bad input is one clear sentence and exit 2, before any load."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest

from pollbench.cli import main
from pollbench.commands.calibrate import results_table


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(["calibrate", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pollbench calibrate: error: ")
    assert "Traceback" not in err
    return err


def test_a_remote_host_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = _error(capsys, ["--host", "http://192.0.2.10:8080", "--out", str(tmp_path / "c.json")])
    assert "refusing to calibrate 192.0.2.10" in err
    assert "must run on this machine" in err


def test_host_without_fixtures_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = _error(capsys, ["--host", "http://127.0.0.1:8080", "--out", str(tmp_path / "c.json")])
    assert "--host needs --fixtures" in err


def test_missing_fixtures_file_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    err = _error(capsys, ["--host", "http://127.0.0.1:8080", "--fixtures", str(missing)])
    assert f"--fixtures {missing}: file not found" in err


def test_unwritable_out_is_refused_before_measuring(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    err = _error(capsys, ["--out", str(tmp_path / "no-such-dir" / "c.json")])
    assert "cannot write" in err
    err = _error(capsys, ["--out", str(tmp_path)])
    assert "is a directory" in err


def test_fixtures_without_host_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert "--fixtures is only used with --host" in _error(capsys, ["--fixtures", str(tmp_path / "f.json")])


def test_no_server_on_the_port_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fixtures = tmp_path / "fx.json"
    customer = {"id": "c1", "name": "C", "token": "t", "orders": ["o1"]}
    fixtures.write_text(json.dumps({"base_url": "http://127.0.0.1:9", "admins": [], "customers": [customer]}))
    err = _error(capsys, ["--host", "http://127.0.0.1:9", "--fixtures", str(fixtures),
                          "--out", str(tmp_path / "c.json")])  # fmt: skip
    assert "no process of this user is listening on port 9" in err
    assert not (tmp_path / "c.json").exists()


def test_help_names_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["calibrate", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--host", "--fixtures", "--quick", "--out", "--json", "--server-cpu-quota"):
        assert flag in out


def test_results_table_has_a_row_per_sample() -> None:
    from loadtests.calibrate_http import Sample
    from loadtests.calibrate_result import CalibrationResult
    from sim.calibration import Calibration

    samples = {
        "noop": Sample(kind="noop", count=1000, cpu_s=0.06, wall_s=0.3),
        "orders_304": Sample(kind="orders_304", count=500, cpu_s=0.05, wall_s=0.3),
    }
    table = results_table(CalibrationResult(calibration=Calibration(), samples=samples, meta={}))
    assert table.row_count == 2
    assert [c.header for c in table.columns] == [
        "kind",
        "requests",
        "CPU µs/request",
        "resolution",
        "wire bytes",
    ]


def test_a_running_server_is_calibrated_into_a_loadable_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--host: the server is found by its port, measured, and the JSON printed equals the file written."""
    from loadtests.calibrate import CalibrateSettings
    from loadtests.server_process import ServerOptions, ServerProcess
    from sim.calibration import load_calibration
    from tests.loadtests.test_calibrate import TINY

    monkeypatch.setattr(CalibrateSettings, "quick", classmethod(lambda cls: TINY))
    out = tmp_path / "cal.json"
    options = ServerOptions(customers=6, orders_per_customer=3, admins=1, workdir=tmp_path / "server")
    with ServerProcess(options) as server:
        argv = ["calibrate", "--host", server.base_url, "--fixtures", str(server.fixtures), "--quick",
                "--out", str(out), "--json"]  # fmt: skip
        assert main(argv) == 0
        assert server.pid is not None
        limit = psutil.Process(server.pid).rlimit(psutil.RLIMIT_NOFILE)[0]
    printed = capsys.readouterr().out
    assert json.loads(printed) == json.loads(out.read_text())
    cal = load_calibration(out)
    assert cal.meta["spawned_server"] is False
    assert cal.meta["target"] == server.base_url
    assert any("heartbeat not measured" in note for note in cal.meta["notes"])
    assert cal.service_ms.orders_304 > 0
    assert cal.fd_limit == limit  # read from the running server's /proc/PID/limits
    written = json.loads(out.read_text())
    for key in ("connection_scaling", "cold_start", "commit_ms", "memory_per_keepalive_bytes",
                "baseline_rss_bytes", "fd_limit", "fd_reserve"):  # fmt: skip
        assert key in written, key


@pytest.mark.parametrize(("value", "shown"), [("0", "got 0.0"), ("1.5", "got 1.5"), ("abc", "got 'abc'")])
def test_a_bad_cpu_quota_is_one_sentence(
    value: str, shown: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    err = _error(capsys, ["--server-cpu-quota", value, "--out", str(tmp_path / "c.json")])
    assert f"--server-cpu-quota must be a share of one core, 0 < Q <= 1 (e.g. 0.2), {shown}" in err


def test_a_cpu_quota_with_host_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = _error(capsys, ["--host", "http://127.0.0.1:8080", "--fixtures", str(tmp_path / "f.json"),
                          "--server-cpu-quota", "0.5", "--out", str(tmp_path / "c.json")])  # fmt: skip
    assert "--server-cpu-quota applies only to servers pollbench starts itself" in err
