"""``GET /api/orders``: every order the caller can see with its badge counts, in one response.

This replaces the seed's dashboard loop (one full GET /api/messages per order every 3 s). ``total`` and
``unread`` count the *other party's* messages, as the seed's badges do; ``cursor`` tells a differential
poller which orders moved. Answered entirely from the in-memory order book.
"""

from __future__ import annotations

import json

from aiohttp import web

from reference_server.auth import request_principal
from reference_server.errors import hot_path
from reference_server.messages import etag_matches, json_response, not_modified
from reference_server.orderbook import other_party
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
    other = other_party(principal.role)
    items = []
    for order_id in book.visible(principal):
        o = book.orders[order_id]
        items.append(
            f'{{"orderId":{json.dumps(order_id)},"total":{o.total_from(other)},"unread":{o.unread_from(other)},'
            f'"cursor":{o.cursor}}}'
        )
    return json_response(f'{{"orders":[{",".join(items)}]}}', etag=etag)
