"""Batches: count every answer the CPU reading covers, refuse unexpected statuses."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from loadtests.calibrate_http import Batch, Budget, encode_request, run_batch
from loadtests.calibrate_server import CalibrateError, CpuClock, Target, attach
from loadtests.server_process import ServerOptions, ServerProcess
from loadtests.wire import request_head


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    options = ServerOptions(
        customers=3, orders_per_customer=3, admins=1, workdir=tmp_path_factory.mktemp("s")
    )
    with ServerProcess(options) as proc:
        yield attach(proc.base_url, proc.fixtures)


def _host(target: Target) -> str:
    return f"{target.host}:{target.port}"


def test_encoded_requests_match_the_load_test_client() -> None:
    headers = {"Authorization": "Bearer t", "Accept": "application/json"}
    assert encode_request("GET", "/api/orders", "h:1", headers) == request_head("GET", "/api/orders", "h:1",
                                                                               headers, None)  # fmt: skip


def test_a_batch_stops_at_its_request_cap(target: Target) -> None:
    """Every answered request is counted, including those in flight when the batch stops."""
    batch = Batch(kind="noop", requests=[encode_request("GET", "/bench/noop", _host(target), {})],
                  expect=200, connections=3)  # fmt: skip
    budget = Budget(cpu_s=60.0, max_requests=500, max_s=20.0)
    sample = asyncio.run(run_batch(target.host, target.port, batch, CpuClock(target.pid), budget))
    assert 500 <= sample.count <= 500 + 3  # connections stop at the cap; those in flight still count
    assert sample.cpu_s > 0


def test_an_unexpected_status_fails_the_batch(target: Target) -> None:
    batch = Batch(kind="orders", requests=[encode_request("GET", "/api/orders", _host(target), {})],
                  expect=200, connections=2)  # fmt: skip
    with pytest.raises(CalibrateError, match="expected HTTP 200, got 401"):
        asyncio.run(run_batch(target.host, target.port, batch, CpuClock(target.pid), Budget(cpu_s=0.05)))


def test_a_rotating_batch_sends_on_the_connection_idle_longest() -> None:
    """With fewer requests in flight than connections, an answered connection waits at the back."""
    from loadtests.calibrate_http import _BatchProtocol, _Pacer

    batch = Batch(kind="k", requests=[b"r"], expect=304, connections=4, in_flight=2)
    pacer = _Pacer(batch)
    conns = [_BatchProtocol(pacer) for _ in range(4)]
    pacer.sending = True
    pacer.waiting.extend(conns[2:])
    order = [pacer.finished(304, b"", c) for c in (conns[0], conns[1], conns[2], conns[3], conns[0])]
    assert order == [conns[2], conns[3], conns[0], conns[1], conns[2]]
    assert batch.rotating and not Batch(kind="k", requests=[b"r"], expect=304, connections=4).rotating


def test_an_open_batch_is_measured_more_than_once(target: Target) -> None:
    """A rotating batch over 30 connections: each window counts only its own answers."""
    from loadtests.calibrate_http import open_batch

    batch = Batch(kind="noop", requests=[encode_request("GET", "/bench/noop", _host(target), {})],
                  expect=200, connections=30, in_flight=3)  # fmt: skip

    async def run() -> list[int]:
        async with open_batch(target.host, target.port, batch) as opened:
            budget = Budget(cpu_s=60.0, max_requests=200, max_s=20.0)
            return [(await opened.measure(CpuClock(target.pid), budget)).count for _ in range(2)]

    assert [200 <= n <= 203 for n in asyncio.run(run())] == [True, True]
