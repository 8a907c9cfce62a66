"""``GET /api/messages/wait``: long-polling. The request is held until a message with ``seq > since`` is
committed in the order (answered 200 within moments of the commit) or the timeout passes (204).

A held request costs a parked future in the hub and nothing else: no database work until there is
something to return.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from reference_server.auth import request_principal
from reference_server.messages import json_response
from reference_server.overload import GATE
from reference_server.params import authorize_order, parse_since, parse_timeout, query_order_id
from reference_server.state import STATE, ServerState

__all__ = ["wait_messages"]


async def wait_messages(request: web.Request) -> web.Response:
    """GET /api/messages/wait?orderId=X&since=SEQ[&timeout=S] -> 200 {"messages", "cursor"} or 204."""
    state = request.app[STATE]
    principal = request_principal(request, state.auth)
    order_id = query_order_id(request)
    since = parse_since(request.query.get("since"))
    timeout = parse_timeout(
        request.query.get("timeout"),
        default=state.config.longpoll_default_s,
        maximum=state.config.longpoll_max_s,
    )
    authorize_order(state, principal, order_id)
    order = state.book.orders[order_id]
    if since is None:
        since = order.cursor  # no cursor given: wait for the next message
    if order.cursor <= since:
        gate = request.app[GATE]
        gate.enter("longpoll")  # only a parked long-poll is long-lived; an immediate answer is not counted
        future = state.hub.waiter(order_id)
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            return web.Response(status=204, headers={"Cache-Control": "no-cache"})
        finally:
            state.hub.forget(order_id, future)
            gate.leave()
        if order.cursor <= since:  # woken by shutdown, not by a message
            return web.Response(status=204, headers={"Cache-Control": "no-cache"})
    return _messages_after(state, order_id, since)


def _messages_after(state: ServerState, order_id: str, since: int) -> web.Response:
    cursor = state.book.orders[order_id].cursor
    items = ",".join(state.db().since_json(order_id, since, cursor))
    return json_response(f'{{"messages":[{items}],"cursor":{cursor}}}')
