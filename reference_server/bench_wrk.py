"""wrk, the HTTP load generator behind ``pollbench bench server``: one request shape, one timed run.

wrk hammers one URL with a fixed set of keep-alive connections and reports what it managed. Its human
summary is meant for eyes, so every run here loads a tiny Lua ``done`` hook that prints the same figures as
one machine-readable JSON line (requests, duration, bytes, error counts and latency percentiles); that line,
not the prose, is what we parse. Headers (the bearer token, ``If-None-Match``) are passed with ``-H``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "MARKER",
    "WrkError",
    "WrkOptions",
    "WrkResult",
    "build_command",
    "find_wrk",
    "parse_output",
    "run_wrk",
]

MARKER = "POLLBENCH_WRK "

# wrk calls done() once, in the main thread, after every worker thread has stopped; latency figures are µs.
_DONE_LUA = """\
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"bytes":%d,'
    .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
    .. '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\\n',
    "MARKER_PLACEHOLDER", summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
""".replace("MARKER_PLACEHOLDER", MARKER)


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed nothing we understand."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WrkOptions:
    """How hard and how long one wrk run pushes."""

    threads: int = 2
    """wrk worker threads (each runs its own event loop; one per spare core is plenty)."""
    connections: int = 64
    """keep-alive connections held open across all threads."""
    duration_s: float = 5.0
    """length of the timed run, seconds (wrk takes whole seconds; rounded up, at least 1)."""
    timeout_s: float = 5.0
    """per-request timeout; slower responses count as timeout errors."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WrkResult:
    """What one wrk run achieved."""

    requests: int
    """completed requests."""
    duration_s: float
    """measured wall time of the run, seconds."""
    bytes: int
    """response bytes read, headers included."""
    errors: Mapping[str, int]
    """connect/read/write/timeout socket errors and ``status`` (responses outside 2xx/3xx)."""
    latency_us: Mapping[str, float]
    """mean, p50, p90, p99 and max request latency as wrk measured it, microseconds."""

    @property
    def requests_per_s(self) -> float:
        """Throughput: completed requests per second."""
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def bytes_per_request(self) -> float:
        """Mean response size on the wire, headers included."""
        return self.bytes / self.requests if self.requests else 0.0

    @property
    def error_count(self) -> int:
        """Every failed request or socket error of any kind."""
        return sum(self.errors.values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record, derived figures included."""
        return {
            "requests": self.requests,
            "duration_s": self.duration_s,
            "bytes": self.bytes,
            "requests_per_s": self.requests_per_s,
            "bytes_per_request": self.bytes_per_request,
            "errors": dict(self.errors),
            "latency_us": dict(self.latency_us),
        }


def find_wrk() -> str:
    """The wrk executable, or a :class:`WrkError` telling the user how to install it."""
    path = shutil.which("wrk")
    if path is None:
        raise WrkError(
            "wrk is not installed; it is the load generator of this benchmark. "
            "Install it with: sudo apt-get install wrk"
        )
    return path


def parse_output(stdout: str) -> WrkResult:
    """The figures from a wrk run's stdout (the JSON line our ``done`` hook prints)."""
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            try:
                raw = json.loads(line[len(MARKER) :])
                return WrkResult(
                    requests=int(raw["requests"]),
                    duration_s=int(raw["duration_us"]) / 1e6,
                    bytes=int(raw["bytes"]),
                    errors={str(k): int(v) for k, v in raw["errors"].items()},
                    latency_us={str(k): float(v) for k, v in raw["latency_us"].items()},
                )
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise WrkError(f"wrk printed a malformed summary line: {line!r} ({exc})") from exc
    tail = stdout.strip().splitlines()[-5:]
    raise WrkError("wrk printed no summary line; its output ended with: " + " | ".join(tail))


def build_command(
    wrk: str, url: str, headers: Mapping[str, str], options: WrkOptions, script: Path
) -> list[str]:
    """The argv of one wrk run against ``url`` with ``headers``."""
    seconds = max(1, int(-(-options.duration_s // 1)))
    cmd = [
        wrk,
        f"-t{options.threads}",
        f"-c{options.connections}",
        f"-d{seconds}s",
        f"--timeout={max(1, int(options.timeout_s))}s",
        "-s",
        str(script),
    ]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cmd.append(url)
    return cmd


def _write_script(directory: Path) -> Path:
    script = directory / "pollbench_done.lua"
    if not script.exists():
        script.write_text(_DONE_LUA)
    return script


def run_wrk(
    url: str,
    headers: Mapping[str, str],
    options: WrkOptions,
    *,
    wrk: str | None = None,
    workdir: Path | None = None,
) -> WrkResult:
    """Run wrk once against ``url`` and return its figures; bounded by the run length plus a grace period."""
    exe = wrk or find_wrk()
    with tempfile.TemporaryDirectory(prefix="pollbench-wrk-") as tmp:
        script = _write_script(workdir or Path(tmp))
        cmd = build_command(exe, url, headers, options, script)
        # wrk stops itself after -d; the grace period covers its start-up and a stuck socket at the end.
        limit = options.duration_s + options.timeout_s + 15.0
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, check=False)
        except subprocess.TimeoutExpired as exc:
            raise WrkError(f"wrk did not finish within {limit:.0f} s against {url}") from exc
    if proc.returncode != 0:
        detail = proc.stderr.strip() or proc.stdout.strip()
        raise WrkError(f"wrk exited with status {proc.returncode}: {detail}")
    return parse_output(proc.stdout)
