"""``GET /api/orders``: every order the caller can see with its badge counts, in one response.

This replaces the seed's dashboard loop (one full GET /api/messages per order every 3 s). ``total`` and
``unread`` count the *other party's* messages, as the seed's badges do; ``cursor`` tells a differential
poller which orders moved. Answered entirely from the in-memory order book; the encoded list is kept in
the body cache under its ETag (equal ETags mean equal bodies, see ``orderbook.py``), so a dashboard
polling unchanged orders costs no JSON building.
"""

from __future__ import annotations

import json

from aiohttp import web

from reference_server.auth import Principal, request_principal
from reference_server.errors import hot_path
from reference_server.messages import etag_matches, json_response, not_modified
from reference_server.orderbook import OrderBook, other_party
from reference_server.state import STATE

__all__ = ["get_orders"]


@hot_path
def get_orders(request: web.Request) -> web.Response:
    """GET /api/orders -> {"orders": [{"orderId", "total", "unread", "cursor"}]} with a strong ETag."""
    state = request.app[STATE]
    principal = request_principal(request, state.auth)
    book = state.book
    etag = book.orders_etag(principal)
    if etag_matches(request, etag):
        return not_modified(etag)
    body = state.bodies.get(etag)
    if body is None:
        body = _orders_body(book, principal).encode("utf-8")
        state.bodies.put(etag, body)
    return json_response(body, etag=etag)


def _orders_body(book: OrderBook, principal: Principal) -> str:
    other = other_party(principal.role)
    items = []
    for order_id in book.visible(principal):
        o = book.orders[order_id]
        items.append(
            f'{{"orderId":{json.dumps(order_id)},"total":{o.total_from(other)},"unread":{o.unread_from(other)},'
            f'"cursor":{o.cursor}}}'
        )
    return f'{{"orders":[{",".join(items)}]}}'
