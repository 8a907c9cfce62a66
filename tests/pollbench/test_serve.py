"""pollbench serve: flags, errors, and one real subprocess smoke test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from pollbench.cli import main

LISTENING_PREFIX = "pollbench serve: listening on "


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    for flag in (
        "--host",
        "--port",
        "--db",
        "--secret",
        "--seed-customers",
        "--orders-per-customer",
        "--admins",
        "--fixtures",
        "--token-ttl",
        "--messages-per-order",
    ):
        assert flag in out


def test_bad_port_is_a_usage_error(capsys):
    assert main(["serve", "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err


def test_negative_seed_count_is_a_usage_error(capsys):
    assert main(["serve", "--port", "0", "--seed-customers", "-1"]) == 2
    assert "--seed-customers must be zero or more, got -1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--admins", "-1"], "--admins"),
        (["--push-queue", "0"], "--push-queue"),
        (["--sse-heartbeat", "0"], "--sse-heartbeat"),
        (["--token-ttl", "-5"], "--token-ttl"),
    ],
)
def test_bad_tuning_values_name_the_flag_that_was_typed(capsys, argv, flag):
    assert main(["serve", "--port", "0", *argv]) == 2
    assert capsys.readouterr().err.startswith(f"pollbench serve: error: {flag} must be ")


def test_unopenable_database_is_a_usage_error(tmp_path, capsys):
    assert main(["serve", "--port", "0", "--db", str(tmp_path / "no" / "such" / "dir.db")]) == 2
    assert "cannot open database" in capsys.readouterr().err


def test_bad_port_env_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setenv("POLLBENCH_PORT", "eighty")
    assert main(["serve"]) == 2
    assert "POLLBENCH_PORT" in capsys.readouterr().err


def test_subprocess_serves_health_writes_fixtures_and_stops_on_sigterm(tmp_path):
    fixtures = tmp_path / "fixtures.json"
    argv = [
        sys.executable,
        "-m",
        "pollbench",
        "serve",
        "--port",
        "0",
        "--db",
        str(tmp_path / "s.db"),
        "--seed-customers",
        "2",
        "--admins",
        "1",
        "--fixtures",
        str(fixtures),
    ]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = proc.stdout.readline().strip()  # blocks until the server is listening (or exits)
        assert line.startswith(LISTENING_PREFIX), (
            line,
            proc.stderr.read() if proc.poll() is not None else "",
        )
        url = line.removeprefix(LISTENING_PREFIX)
        assert not url.endswith(":0")
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as resp:
            assert json.loads(resp.read()) == {"status": "ok"}
        doc = json.loads(fixtures.read_text())
        assert doc["base_url"] == url and [c["id"] for c in doc["customers"]] == ["c1", "c2"]
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
        assert proc.stdout.read() == ""  # exactly one line on stdout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_port_in_use_is_a_usage_error(capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    assert "cannot listen" in capsys.readouterr().err
