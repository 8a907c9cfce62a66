"""Benchmark request shapes, built from a real server's fixtures and checked against its answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from reference_server.bench import server_argv
from reference_server.bench_http import ShapeError, build_shapes, check_shape, fetch, push_targets
from reference_server.bench_process import spawn, wait_for_listening


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, dict[str, Any]]]:
    workdir = tmp_path_factory.mktemp("bench-http")
    with spawn("server", server_argv(workdir, customers=2), workdir) as child:
        url = wait_for_listening(child, timeout_s=60)
        yield url, json.loads((workdir / "fixtures.json").read_text())


def test_shapes_are_a_to_e_with_the_issue_targets(served):
    _url, fixtures = served
    shapes = build_shapes(fixtures)
    assert [(s.key, s.name, s.min_ratio) for s in shapes] == [
        ("a", "noop", None), ("b", "poll-304", 0.85), ("c", "poll-since", 0.85), ("d", "poll-full", 0.5),
        ("e", "orders", None),
    ]  # fmt: skip


def test_every_shape_gets_the_answer_the_api_promises(served):
    url, fixtures = served
    sizes = {s.name: check_shape(url, s) for s in build_shapes(fixtures)}
    assert sizes["poll-304"] == 0
    assert 1500 <= sizes["poll-full"] <= 3000  # the seed's "about 2 KB per poll"


def test_the_304_shape_carries_the_current_etag(served):
    url, fixtures = served
    b = build_shapes(fixtures)[1]
    status, headers, _ = fetch(url, b.path, {"Authorization": b.headers["Authorization"]})
    assert status == 200 and headers["etag"] == b.headers["If-None-Match"]


def test_check_shape_rejects_an_unexpected_status(served):
    url, fixtures = served
    b = build_shapes(fixtures)[1]
    stale = replace(b, headers={**b.headers, "Authorization": "Bearer not-a-token"})
    with pytest.raises(ShapeError, match="answered 401, expected 304"):
        check_shape(url, stale)


def test_push_targets_cover_every_order_at_its_cursor(served, tmp_path):
    url, fixtures = served
    targets = json.loads(push_targets(url, fixtures, tmp_path / "t.json").read_text())
    orders = [o for c in fixtures["customers"] for o in c["orders"]]
    assert [t["orderId"] for t in targets] == orders
    token = fixtures["customers"][0]["token"]
    _s, _h, body = fetch(url, f"/api/messages?orderId={orders[0]}", {"Authorization": f"Bearer {token}"})
    assert targets[0]["since"] == json.loads(body)["cursor"]


def test_fixtures_without_a_three_order_customer_are_refused():
    with pytest.raises(ShapeError, match="3 orders"):
        build_shapes({"base_url": "http://127.0.0.1:1", "customers": [{"token": "t", "orders": ["o1"]}]})
