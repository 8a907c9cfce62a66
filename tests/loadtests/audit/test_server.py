"""The audited server subprocess: after a SIGKILL it comes back on the same port, database and token
secret, with every acknowledged message still there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from loadtests.audit.server import AuditServer, AuditServerError, ServerSpec, free_port


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[AuditServer]:
    s = AuditServer(ServerSpec(workdir=tmp_path, port=free_port(), customers=2, orders_per_customer=2))
    try:
        await s.start()
        yield s
    finally:
        await s.stop()


async def _post(session: aiohttp.ClientSession, server: AuditServer, token: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    body = {"orderId": "o1", "content": "before the crash"}
    async with session.post(server.base_url + "/api/messages", json=body, headers=headers) as resp:
        assert resp.status == 201
        message: dict[str, Any] = (await resp.json())["message"]
        return message


async def test_an_acknowledged_message_survives_sigkill_and_old_tokens_still_work(
    server: AuditServer,
) -> None:
    token = server.fixtures()["customers"][0]["token"]
    pid = server.pid
    async with aiohttp.ClientSession() as session:
        sent = await _post(session, server, token)
        await server.kill_and_restart()
        headers = {"Authorization": f"Bearer {token}"}
        async with session.get(
            server.base_url + "/api/messages", params={"orderId": "o1"}, headers=headers
        ) as resp:
            assert resp.status == 200
            seqs = [m["seq"] for m in (await resp.json())["messages"]]
    assert seqs == [sent["seq"]]
    assert server.restarts == 1 and server.pid not in (None, pid)
    assert server.base_url.endswith(f":{server.spec.port}")


async def test_the_database_holds_no_seeded_messages(server: AuditServer) -> None:
    """Orders start empty, so every message in them is one the audit sent."""
    customer = server.fixtures()["customers"][0]
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            server.base_url + "/api/orders", headers={"Authorization": f"Bearer {customer['token']}"}
        ) as resp,
    ):
        orders = (await resp.json())["orders"]
    assert [o["total"] for o in orders] == [0, 0]


async def test_stop_ends_the_process(server: AuditServer) -> None:
    await server.stop()
    assert server.pid is None
    await server.stop()  # twice is fine


async def test_a_server_that_cannot_start_is_reported_with_its_log(tmp_path: Path) -> None:
    (tmp_path / "audit.db").write_text("this is not a database")
    s = AuditServer(ServerSpec(workdir=tmp_path, port=free_port(), customers=1, orders_per_customer=1))
    with pytest.raises(AuditServerError, match="database"):
        await s.start()
    assert s.pid is None
