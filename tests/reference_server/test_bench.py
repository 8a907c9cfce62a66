"""The server benchmark end to end: config checks, verdicts, a tiny real run, and the CLI's errors."""

from __future__ import annotations

import json
import shutil

import pytest

from pollbench.cli import main
from reference_server.bench import BenchConfig, HttpFigure, run_bench
from reference_server.bench_http import RequestShape
from reference_server.bench_wrk import WrkResult

needs_wrk = pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)


def _wrk(rps: float, errors: int = 0) -> WrkResult:
    return WrkResult(requests=int(rps), duration_s=1.0, bytes=100 * int(rps), errors={"status": errors},
                     latency_us={"mean": 1.0, "p50": 1.0, "p90": 1.0, "p99": 1.0, "max": 1.0})  # fmt: skip


def _shape(min_ratio: float | None) -> RequestShape:
    return RequestShape(
        key="b", name="poll-304", label="", path="/", headers={}, status=304, min_ratio=min_ratio
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"repeat": 0}, "repeat"),
        ({"threads": 4, "connections": 2}, "connections"),
        ({"duration_s": 0}, "duration"),
        ({"sse_connections": -1}, "sse_connections"),
    ],
)
def test_config_rejects_nonsense(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BenchConfig(**kwargs)


def test_ratio_is_the_median_of_within_round_ratios():
    # Round 2 ran on a machine twice as fast; the within-round ratios (0.9, 0.9, 0.5) are not disturbed.
    figure = HttpFigure(shape=_shape(0.85), rounds=(_wrk(90), _wrk(180), _wrk(50)), ratios=(0.9, 0.9, 0.5))
    assert figure.ratio == 0.9
    assert figure.requests_per_s == 90
    assert figure.passed is True


def test_cpu_per_request_is_the_median_over_rounds():
    rounds = (_wrk(100), _wrk(200), _wrk(400))
    figure = HttpFigure(shape=_shape(None), rounds=rounds, ratios=(1, 1, 1), cpu_s=(0.004, 0.006, 0.004))
    assert figure.cpu_us_per_request == pytest.approx(30.0)  # 40, 30 and 10 µs per request


def test_a_shape_with_failed_requests_fails_even_when_fast():
    figure = HttpFigure(shape=_shape(0.85), rounds=(_wrk(100, errors=3),), ratios=(1.0,))
    assert figure.passed is False


def test_a_shape_without_target_has_no_verdict():
    assert HttpFigure(shape=_shape(None), rounds=(_wrk(1),), ratios=(0.1,)).passed is None


@needs_wrk
@pytest.mark.slow
def test_tiny_real_run_measures_every_shape_and_crowd():
    cfg = BenchConfig(threads=1, connections=4, duration_s=1, warmup_s=0, repeat=1, sse_connections=20,
                      ws_connections=20, bare=False, customers=2, settle_pause_s=0.1,
                      settle_max_s=1.0)  # fmt: skip
    report = run_bench(cfg)
    assert [f.shape.key for f in report.http] == ["a", "b", "c", "d", "e"]
    assert report.http[0].ratio == 1.0
    assert all(f.rounds[0].requests > 0 and f.errors == 0 for f in report.http)
    assert all(0 < f.cpu_us_per_request < 100_000 for f in report.http)  # the server's CPU was read
    assert report.http[0].cpu_ratio == 1.0
    # a 304 carries no body, the full poll about 2 KB: the shapes really hit different paths
    sizes = [f.to_dict()["bytes_per_request"] for f in report.http]
    assert sizes[1] < 400 < 1500 < sizes[3]
    assert [(p.server, p.kind, p.opened, p.failed) for p in report.push] == [
        ("reference", "sse", 20, 0), ("reference", "ws", 20, 0),
    ]  # fmt: skip
    json.dumps(report.to_dict())  # the --json output is plain JSON


def test_cli_without_wrk_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["bench", "server", "--sse", "0", "--ws", "0"]) == 2
    assert "apt-get install wrk" in capsys.readouterr().err


def test_cli_rejects_bad_flags_with_exit_2(capsys):
    assert main(["bench", "server", "--threads", "8", "--connections", "2"]) == 2
    assert "connections must be at least" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--sse", "-1"], "--sse must be zero or more, got -1"),
        (["--repeat", "0"], "--repeat must be at least 1, got 0"),
        (["--duration", "0"], "--duration must be positive"),
    ],
)
def test_cli_errors_name_the_flag_that_was_typed(capsys, flags, message):
    assert main(["bench", "server", *flags]) == 2
    assert message in capsys.readouterr().err
