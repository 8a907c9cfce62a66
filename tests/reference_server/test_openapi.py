"""reference_server.openapi: the served document describes exactly the routes the app has."""

from __future__ import annotations

from reference_server import ServerConfig, create_app

HTTP_METHODS = {"get", "post", "put", "delete", "patch"}


def router_operations() -> set[tuple[str, str]]:
    app = create_app(ServerConfig())
    ops = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "*") or route.resource is None:
            continue
        ops.add((route.resource.canonical, route.method.lower()))
    return ops


async def test_document_matches_the_router(client):
    doc = await (await client.get("/openapi.json")).json()
    documented = {
        (path, method) for path, item in doc["paths"].items() for method in item if method in HTTP_METHODS
    }
    assert documented == router_operations()


async def test_document_is_openapi_3_1_with_bearer_auth(client):
    doc = await (await client.get("/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert doc["paths"]["/bench/noop"]["get"]["security"] == []
    assert doc["paths"]["/api/messages"]["post"]["security"] == [{"bearer": []}]


async def test_message_schema_lists_the_seed_field_names(client):
    doc = await (await client.get("/openapi.json")).json()
    message = doc["components"]["schemas"]["Message"]
    assert set(message["required"]) == {
        "_id",
        "orderId",
        "senderType",
        "senderName",
        "content",
        "isRead",
        "createdAt",
        "seq",
    }


async def test_every_ref_resolves(client):
    doc = await (await client.get("/openapi.json")).json()
    refs = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"].rsplit("/", 1)[-1])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc["paths"])
    assert refs <= set(doc["components"]["schemas"])
