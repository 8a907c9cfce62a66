"""reference_server.overload: the cap on long-lived connections. Past it, new SSE streams, WebSockets and
long-polls that would park get 503 ``overloaded`` with Retry-After; open ones keep receiving; plain
requests are never counted; a closed connection frees its slot; /metrics counts the refusals."""

from __future__ import annotations

import asyncio
import dataclasses

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pollbench.cli import main
from reference_server import ServerConfig, create_app
from reference_server.overload import RETRY_AFTER_S
from tests.reference_server.conftest import headers

CAP = 2


@pytest.fixture
async def capped(aiohttp_client, cfg):
    return await aiohttp_client(create_app(dataclasses.replace(cfg, max_connections=CAP)))


async def metric(client, name: str, **labels: str) -> float:
    text = await (await client.get("/metrics")).text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"{name}{labels} not in /metrics")


async def assert_overloaded(resp: aiohttp.ClientResponse) -> None:
    assert resp.status == 503
    assert resp.headers["Retry-After"] == str(RETRY_AFTER_S)
    body = await resp.json()
    assert body["error"] == "overloaded" and str(CAP) in body["message"]


async def open_stream(client, token: str, order: str = "o1") -> aiohttp.ClientResponse:
    resp: aiohttp.ClientResponse = await client.get(
        "/api/stream", params={"orderId": order}, headers=headers(token)
    )
    assert resp.status == 200
    assert await resp.content.readline() == b": connected\n"  # admitted and subscribed
    return resp


async def fill(client, users) -> tuple[aiohttp.ClientResponse, aiohttp.ClientWebSocketResponse]:
    """Reach the cap with one SSE stream and one subscribed WebSocket."""
    stream = await open_stream(client, users.c1)
    ws = await client.ws_connect("/ws", headers=headers(users.c1))
    await ws.send_json({"type": "subscribe", "orderIds": ["o1"]})
    assert (await ws.receive_json(timeout=2))["type"] == "subscribed"
    return stream, ws


async def test_past_the_cap_a_new_stream_gets_503_overloaded(capped, users):
    stream, ws = await fill(capped, users)
    resp = await capped.get("/api/stream", params={"orderId": "o1"}, headers=headers(users.c1))
    await assert_overloaded(resp)
    assert await metric(capped, "pollbench_rejected_connections_total", kind="sse") == 1
    stream.close()
    await ws.close()


async def test_past_the_cap_a_websocket_upgrade_gets_503_overloaded(capped, users):
    stream, ws = await fill(capped, users)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await capped.ws_connect("/ws", headers=headers(users.c1))
    assert refused.value.status == 503
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}
    plain = await capped.get(
        "/ws", headers={**headers(users.c1), **upgrade, "Sec-WebSocket-Key": "a" * 22 + "=="}
    )
    await assert_overloaded(plain)
    assert await metric(capped, "pollbench_rejected_connections_total", kind="ws") == 2
    stream.close()
    await ws.close()


async def test_past_the_cap_a_long_poll_that_would_wait_gets_503(capped, users):
    stream, ws = await fill(capped, users)
    params = {"orderId": "o1", "timeout": "5"}  # no since: it would park until the next message
    await assert_overloaded(await capped.get("/api/messages/wait", params=params, headers=headers(users.c1)))
    # One that can be answered at once holds nothing, so it is not refused.
    answered = await capped.get(
        "/api/messages/wait", params={**params, "since": "0"}, headers=headers(users.c1)
    )
    assert answered.status == 200 and (await answered.json())["messages"]
    stream.close()
    await ws.close()


async def test_open_connections_keep_receiving_and_plain_requests_are_not_counted(capped, users):
    stream, ws = await fill(capped, users)
    await assert_overloaded(await capped.get("/api/stream", headers=headers(users.c1)))
    assert (
        await capped.get("/api/messages", params={"orderId": "o1"}, headers=headers(users.c1))
    ).status == 200
    assert (await capped.get("/api/orders", headers=headers(users.c1))).status == 200
    posted = await capped.post(
        "/api/messages", json={"orderId": "o1", "content": "hi"}, headers=headers(users.a1)
    )
    assert posted.status == 201
    seq = (await posted.json())["message"]["seq"]
    assert (await ws.receive_json(timeout=2))["message"]["seq"] == seq
    async with asyncio.timeout(2):
        while not (line := await stream.content.readline()).startswith(b"id: "):
            pass
    assert line == f"id: {seq}\n".encode()
    stream.close()
    await ws.close()


async def test_a_closed_connection_frees_its_slot(capped, users):
    stream, ws = await fill(capped, users)
    await ws.close()
    async with asyncio.timeout(2):  # the server sees the close frame and leaves the gate
        while await metric(capped, "pollbench_capped_connections") != CAP - 1:
            await asyncio.sleep(0.01)
    again = await open_stream(capped, users.c1)
    again.close()
    stream.close()


async def test_a_bad_request_is_told_its_mistake_not_to_retry(capped, users):
    stream, ws = await fill(capped, users)
    resp = await capped.get("/api/stream", params={"orderId": "o1"}, headers=headers(users.expired))
    assert resp.status == 401 and (await resp.json())["error"] == "token_expired"
    stream.close()
    await ws.close()


async def test_zero_means_no_cap(client, users):
    streams = [await open_stream(client, users.c1) for _ in range(CAP + 3)]
    assert await metric(client, "pollbench_connection_limit") == 0
    assert await metric(client, "pollbench_capped_connections") == CAP + 3
    for stream in streams:
        stream.close()


def test_negative_cap_is_refused_by_the_config():
    with pytest.raises(ValueError, match="max_connections"):
        ServerConfig(max_connections=-1)


def test_negative_cap_flag_is_a_usage_error(capsys):
    assert main(["serve", "--max-connections", "-1"]) == 2
    assert "--max-connections must be zero or more" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("env", "argv", "expected"), [("7", [], 7), ("7", ["--max-connections", "3"], 3), ("", [], 0)]
)
def test_cap_flag_falls_back_to_the_environment(monkeypatch, env, argv, expected):
    import argparse

    from pollbench.commands import serve

    monkeypatch.setenv("POLLBENCH_MAX_CONNECTIONS", env)
    parser = argparse.ArgumentParser()
    serve.configure(parser)
    assert serve._config(parser.parse_args(argv)).max_connections == expected


def test_bad_cap_environment_value_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setenv("POLLBENCH_MAX_CONNECTIONS", "many")
    assert main(["serve"]) == 2
    assert "POLLBENCH_MAX_CONNECTIONS must be an integer" in capsys.readouterr().err
