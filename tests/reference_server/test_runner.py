"""reference_server.runner: a real socket on loopback, fixtures once listening, clean shutdown."""

from __future__ import annotations

import asyncio
import json
import resource

import aiohttp

from reference_server import ServerConfig, raise_open_file_limit, running_server
from reference_server.runner import serve


async def test_running_server_yields_a_reachable_base_url(tmp_path):
    async with running_server(ServerConfig(db_path=str(tmp_path / "r.db"))) as url:
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        async with aiohttp.ClientSession() as session, session.get(f"{url}/healthz") as resp:
            assert resp.status == 200


async def test_fixtures_name_the_real_url_and_working_tokens(tmp_path):
    cfg = ServerConfig(db_path=str(tmp_path / "r.db"), seed_customers=2, seed_admins=1)
    path = tmp_path / "fx.json"
    async with running_server(cfg, fixtures=path) as url:
        doc = json.loads(path.read_text())
        assert doc["base_url"] == url
        customer = doc["customers"][1]
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {customer['token']}"}) as session:
            async with session.get(f"{url}/api/orders") as resp:
                orders = await resp.json()
    assert [o["orderId"] for o in orders["orders"]] == customer["orders"] == ["o4", "o5", "o6"]


async def test_shutdown_ends_open_streams_and_websockets_promptly(tmp_path):
    cfg = ServerConfig(db_path=str(tmp_path / "r.db"), seed_customers=1, secret="s")
    path = tmp_path / "fx.json"
    stop = asyncio.Event()
    urls: list[str] = []
    server = asyncio.create_task(
        serve(cfg, host="127.0.0.1", port=0, fixtures=path, announce=urls.append, stop=stop)
    )
    async with asyncio.timeout(5):
        while not urls:
            await asyncio.sleep(0.01)
    token = json.loads(path.read_text())["customers"][0]["token"]
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=auth) as session:
        stream = await session.get(f"{urls[0]}/api/stream", params={"orderId": "o1"})
        await stream.content.readline()
        ws = await session.ws_connect(f"{urls[0]}/ws")
        await ws.send_json({"type": "subscribe", "orderIds": ["o1"]})
        await ws.receive_json(timeout=2)
        stop.set()
        async with asyncio.timeout(3):
            await server
            assert (await ws.receive()).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            await stream.content.read()  # returns only because the server ended the stream
            assert stream.content.at_eof()
        stream.release()


def test_open_file_limit_is_raised_to_the_hard_limit():
    soft = raise_open_file_limit()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert soft == hard or hard == resource.RLIM_INFINITY
