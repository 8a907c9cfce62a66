"""One real load test shared by the integration tests: every strategy, a few seconds each.

``pollbench loadtest`` starts a seeded ``pollbench serve`` subprocess on a free loopback port per
strategy and a headless Locust subprocess against it; the tests then read what it wrote. Short
intervals (seed-dashboard:1, adaptive:min=1,max=2) keep the drains, and so the whole run, short.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from pollbench.cli import main

STRATEGIES = "poll:3,seed-dashboard:1,adaptive:min=1,max=2,longpoll,sse,ws"
USERS = 20
DURATION_S = 4
MESSAGE_INTERVAL_S = 1.5


@dataclass(frozen=True)
class LoadRun:
    out: Path
    exit_code: int


@pytest.fixture(scope="session")
def load_run(tmp_path_factory: pytest.TempPathFactory) -> LoadRun:
    out = tmp_path_factory.mktemp("loadtest")
    code = main(
        [
            "loadtest", "--strategies", STRATEGIES, "--users", str(USERS), "--duration", f"{DURATION_S}s",
            "--message-interval", f"{MESSAGE_INTERVAL_S}s", "--spawn-rate", "100", "--out", str(out),
            "--check-p99-delivery", "30", "--check-fail-ratio", "0.01", "--admin-panels", "1",
        ]
    )  # fmt: skip
    return LoadRun(out=out, exit_code=code)
