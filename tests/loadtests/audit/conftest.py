"""A real reference server on a loopback port (in this process), seeded with two customers of two empty
orders each and one admin, plus its fixtures document."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from reference_server import ServerConfig, running_server


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    fixtures: dict[str, Any]

    def customer(self, index: int = 0) -> dict[str, Any]:
        return dict(self.fixtures["customers"][index])

    @property
    def admin_token(self) -> str:
        return str(self.fixtures["admins"][0]["token"])


@pytest.fixture
async def live_server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    config = ServerConfig(
        db_path=str(tmp_path / "chat.db"), seed_customers=2, orders_per_customer=2, seed_admins=1,
        messages_per_order=0, sse_heartbeat_s=1.0,
    )  # fmt: skip
    fixtures = tmp_path / "fixtures.json"
    async with running_server(config, fixtures=fixtures) as url:
        yield LiveServer(base_url=url, fixtures=json.loads(fixtures.read_text()))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s
