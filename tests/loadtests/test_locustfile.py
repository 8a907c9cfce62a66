"""loadtests.locustfile run by plain ``locust``, as issue 4 documents it, against a real server subprocess."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtests.runner import LOCUSTFILE

CUSTOMERS = 4


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("locustfile") / "fixtures.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "pollbench", "serve", "--port", "0", "--seed-customers", str(CUSTOMERS),
         "--admins", "1", "--fixtures", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not path.exists():
            assert server.poll() is None and time.monotonic() < deadline, "pollbench serve did not start"
            time.sleep(0.05)
        yield path
    finally:
        server.terminate()
        server.wait(timeout=10)


def _locust(fixtures: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    base_url = json.loads(fixtures.read_text())["base_url"]
    return subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", base_url,
         "--fixtures", str(fixtures), "--headless", "--only-summary", "--strategy", "sse",
         "--message-interval", "0.5", *extra],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_headless_without_u_runs_every_customer_and_shows_deliver_in_the_csv(
    fixtures: Path, tmp_path: Path
) -> None:
    done = _locust(fixtures, "-t", "4s", "--csv", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert f'"SSEUser": {CUSTOMERS}' in done.stderr  # Locust alone would start one user: a lone sender
    with open(tmp_path / "run_stats.csv", newline="") as fh:
        rows = {(r["Type"], r["Name"]): r for r in csv.DictReader(fh)}
    assert int(rows[("DELIVER", "sse")]["Request Count"]) > 0


def test_explicit_u_too_small_for_the_receivers_is_warned_about(fixtures: Path) -> None:
    done = _locust(fixtures, "-u", "1", "-t", "1s")
    assert "fewer than the 5 users this test needs" in done.stderr


def test_bad_fixtures_path_or_strategy_is_a_sentence_and_exit_2(fixtures: Path, tmp_path: Path) -> None:
    for extra, message in (
        (["--fixtures", str(tmp_path / "missing.json")], "fixtures file not found"),
        (["--strategy", "bogus"], "unknown strategy 'bogus'"),
    ):
        done = _locust(fixtures, "-t", "1s", *extra)
        assert done.returncode == 2, done.stderr[-2000:]
        assert message in done.stderr and "Traceback" not in done.stderr
