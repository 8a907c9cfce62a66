"""wrk runner: the summary line parsed exactly, failures explained, a real run against a real server."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from reference_server.bench_wrk import WrkError, WrkOptions, build_command, find_wrk, parse_output, run_wrk

# Captured from `wrk -t1 -c2 -d1s -s <our done hook>` against python's http.server on this machine.
REAL_OUTPUT = """\
Running 1s test @ http://127.0.0.1:18999/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.13ms    2.14ms   8.96ms   81.66%
    Req/Sec     1.16k   578.45     2.36k    70.00%
  1160 requests in 1.00s, 580.00KB read
Requests/sec:   1158.26
Transfer/sec:    579.13KB
POLLBENCH_WRK {"requests":1160,"duration_us":1001502,"bytes":593920,"errors":{"connect":0,"read":0,\
"write":0,"status":0,"timeout":0},"latency_us":{"mean":2131.3,"p50":875,"p90":5662,"p99":8120,"max":8963}}
"""

needs_wrk = pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)


def test_parse_output_reads_the_summary_line():
    result = parse_output(REAL_OUTPUT)
    assert result.requests == 1160
    assert result.duration_s == pytest.approx(1.001502)
    assert result.requests_per_s == pytest.approx(1158.26, abs=0.01)  # agrees with wrk's own prose
    assert result.bytes_per_request == pytest.approx(512.0)
    assert result.error_count == 0
    assert result.latency_us["p99"] == 8120


def test_parse_output_counts_every_kind_of_error():
    line = REAL_OUTPUT.replace('"connect":0', '"connect":2').replace('"status":0', '"status":5')
    assert parse_output(line).error_count == 7


def test_parse_output_without_summary_line_quotes_the_tail():
    with pytest.raises(WrkError, match="no summary line.*Transfer/sec"):
        parse_output(REAL_OUTPUT.rsplit("POLLBENCH_WRK", 1)[0])


def test_parse_output_rejects_a_malformed_summary():
    with pytest.raises(WrkError, match="malformed"):
        parse_output('POLLBENCH_WRK {"requests": 3}\n')


def test_build_command_passes_headers_and_rounds_duration_up():
    options = WrkOptions(threads=2, connections=64, duration_s=2.5, timeout_s=5.0)
    cmd = build_command("wrk", "http://127.0.0.1:1/x", {"If-None-Match": '"abc"'}, options, Path("d.lua"))
    assert cmd == ["wrk", "-t2", "-c64", "-d3s", "--timeout=5s", "-s", "d.lua",
                   "-H", 'If-None-Match: "abc"', "http://127.0.0.1:1/x"]  # fmt: skip


def test_find_wrk_tells_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(WrkError, match="apt-get install wrk"):
        find_wrk()


class _Counting(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen_headers: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
        _Counting.seen_headers.append(self.headers.get("Authorization", ""))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@needs_wrk
def test_run_wrk_measures_a_real_server_and_sends_the_headers(http_server):
    _Counting.seen_headers.clear()
    result = run_wrk(http_server, {"Authorization": "Bearer t0k"}, WrkOptions(threads=1, connections=2,
                                                                             duration_s=1))  # fmt: skip
    assert result.requests > 0
    assert result.error_count == 0
    # the server counted what wrk reports (wrk may send a few more that were cut off at the end)
    assert result.requests <= len(_Counting.seen_headers) <= result.requests + 2
    assert set(_Counting.seen_headers) == {"Bearer t0k"}


@needs_wrk
def test_run_wrk_explains_a_refused_connection():
    import socket

    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(WrkError, match="Connection refused"):
            run_wrk(f"http://127.0.0.1:{port}/", {}, WrkOptions(threads=1, connections=1, duration_s=1))
