"""reference_server.seeding: demo users, orders, messages and the fixtures file."""

from __future__ import annotations

import json

from reference_server import ServerConfig, TokenAuthority, create_app
from reference_server.seeding import build_fixtures, demo_admins, demo_customers, write_fixtures
from tests.reference_server.conftest import SECRET, headers


def test_orders_are_assigned_in_customer_order():
    customers = demo_customers(ServerConfig(seed_customers=3, orders_per_customer=2))
    assert [(c.id, c.name, c.orders) for c in customers] == [
        ("c1", "Customer 1", ("o1", "o2")),
        ("c2", "Customer 2", ("o3", "o4")),
        ("c3", "Customer 3", ("o5", "o6")),
    ]
    assert [(a.id, a.name) for a in demo_admins(ServerConfig(seed_admins=2))] == [
        ("a1", "Admin 1"),
        ("a2", "Admin 2"),
    ]


def test_fixtures_document_has_exactly_the_documented_shape():
    cfg = ServerConfig(seed_customers=2, orders_per_customer=1, seed_admins=1, secret=SECRET)
    authority = TokenAuthority(SECRET)
    doc = build_fixtures(cfg, authority, "http://127.0.0.1:9")
    assert set(doc) == {"base_url", "customers", "admins"}
    assert doc["base_url"] == "http://127.0.0.1:9"
    assert [set(c) for c in doc["customers"]] == [{"id", "name", "token", "orders"}] * 2
    assert [set(a) for a in doc["admins"]] == [{"id", "name", "token"}]
    principal = authority.verify(doc["customers"][1]["token"])
    assert (principal.id, principal.role, principal.name) == ("c2", "customer", "Customer 2")
    assert authority.verify(doc["admins"][0]["token"]).role == "admin"


def test_fixture_tokens_live_as_long_as_configured():
    import time

    cfg = ServerConfig(seed_customers=1, token_ttl_s=7 * 86400, secret=SECRET)
    token = build_fixtures(cfg, TokenAuthority(SECRET), "x")["customers"][0]["token"]
    assert TokenAuthority(SECRET).verify(token).expires_at >= time.time() + 7 * 86400 - 5


def test_write_fixtures_is_atomic_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "fixtures.json"
    write_fixtures(target, {"base_url": "u", "customers": [], "admins": []})
    assert json.loads(target.read_text())["base_url"] == "u"
    assert [p.name for p in target.parent.iterdir()] == ["fixtures.json"]


async def test_full_poll_of_a_seeded_order_is_about_2kb(aiohttp_client, tmp_path, users):
    cfg = ServerConfig(db_path=str(tmp_path / "s.db"), secret=SECRET, seed_customers=1, seed_admins=1)
    client = await aiohttp_client(create_app(cfg))
    resp = await client.get("/api/messages", params={"orderId": "o1"}, headers=headers(users.c1))
    size = len(await resp.read())
    assert 1800 <= size <= 2400, size
