"""The crash schedule: it kills and restarts the real server on time and leaves it running when stopped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from loadtests.audit.killer import Killer
from loadtests.audit.server import AuditServer, ServerSpec, free_port


async def test_the_killer_restarts_the_server_until_stopped_and_leaves_it_up(tmp_path: Path) -> None:
    server = AuditServer(ServerSpec(workdir=tmp_path, port=free_port(), customers=1, orders_per_customer=1))
    await server.start()
    try:
        killer = Killer(server, every_s=0.5)
        task = asyncio.create_task(killer.run())
        async with asyncio.timeout(30):
            while server.restarts < 2:
                await asyncio.sleep(0.05)
        killer.stop()
        await asyncio.wait_for(task, timeout=30)
        async with aiohttp.ClientSession() as session, session.get(server.base_url + "/healthz") as resp:
            assert resp.status == 200
    finally:
        await server.stop()


@pytest.mark.parametrize("every", [0.0, -1.0, float("nan")])
def test_a_non_positive_interval_is_refused(tmp_path: Path, every: float) -> None:
    server = AuditServer(ServerSpec(workdir=tmp_path, port=1, customers=1, orders_per_customer=1))
    with pytest.raises(ValueError, match="every_s"):
        Killer(server, every_s=every)
