"""loadtests.dispatch: under several Locust processes every process gets a sender and its own customers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_two_processes_each_send_and_receive_for_distinct_customers(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "pollbench", "loadtest", "--strategies", "sse", "--users", "10",
        "--duration", "3s", "--message-interval", "0.5s", "--processes", "2", "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    processes = [json.loads(p.read_text()) for p in (out / "raw" / "sse").glob("process-*.json")]
    assert len(processes) == 2
    for process in processes:
        assert process["senders"]["requests"] > 0  # Locust's own order put both senders on one worker
        assert all(session["delivered"] > 0 for session in process["sessions"])
    clients = [session["client"] for process in processes for session in process["sessions"]]
    assert sorted(clients) == sorted(f"c{i}" for i in range(1, 11))
