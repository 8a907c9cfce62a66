"""``/api/messages``: read a conversation (the seed's polling endpoint), post to it, mark it read.

GET is the hot path. Its 304s and its "nothing since your cursor" answers come from the in-memory order
book (see ``orderbook.py``); SQLite is read only when there are messages to return, and each encoded body
is kept under its ETag (``bodycache.py``). A repeated poll reuses what the identical request resolved to
before (``pollmemo.py``).
"""

from __future__ import annotations

from aiohttp import hdrs, web
from multidict import CIMultiDict

from reference_server.auth import Role, request_principal
from reference_server.errors import ApiError, hot_path
from reference_server.orderbook import other_party
from reference_server.params import (
    authorize_order,
    client_message_id,
    parse_since,
    query_order_id,
    read_json_object,
    require_str,
    valid_content,
)
from reference_server.pollmemo import ResolvedPoll
from reference_server.state import STATE, ServerState
from reference_server.store import NewMessage

__all__ = ["etag_matches", "get_messages", "json_response", "mark_read", "not_modified", "post_message"]

NO_CACHE = "no-cache"
REPLAYED = "Idempotent-Replayed"
"""Header on a POST answered from an earlier one with the same clientMessageId."""

# Response headers are built once and handed to ``web.Response``, which copies a multidict in C: cheaper
# than a dict plus ``content_type=`` (aiohttp then inserts Content-Type as a second step). About 0.3 µs
# per poll.
_JSON_HEADERS: CIMultiDict[str] = CIMultiDict({"Cache-Control": NO_CACHE, "Content-Type": "application/json"})
_NOT_MODIFIED_HEADERS: CIMultiDict[str] = CIMultiDict({"Cache-Control": NO_CACHE})


def etag_matches(request: web.Request, etag: str) -> bool:
    """Whether ``If-None-Match`` names this ETag (a single value, a list, or ``*``)."""
    header = request.headers.get(hdrs.IF_NONE_MATCH)  # an istr name skips case-folding the lookup key
    if header is None:
        return False
    if header == etag:
        return True
    return any(part.strip() in (etag, "*") for part in header.split(","))


def json_response(body: str | bytes, *, status: int = 200, etag: str | None = None) -> web.Response:
    """A JSON response from already-encoded text (handlers build hot bodies by hand to skip dict churn)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    response = web.Response(body=body, status=status, headers=_JSON_HEADERS)
    if etag is not None:
        response.headers.add(hdrs.ETAG, etag)
    return response


def not_modified(etag: str) -> web.Response:
    response = web.Response(status=304, headers=_NOT_MODIFIED_HEADERS)
    response.headers.add(hdrs.ETAG, etag)
    return response


@hot_path
def get_messages(request: web.Request) -> web.Response:
    """GET /api/messages?orderId=X[&since=SEQ] -> {"messages", "unread", "cursor"} with a strong ETag."""
    state = request.app[STATE]
    poll = _resolve(request, state)
    etag = poll.current_etag(state.book)
    if etag_matches(request, etag):
        return not_modified(etag)
    body = state.bodies.get(etag)
    if body is None:
        body = _messages_body(state, poll.order_id, poll.principal.role, poll.since).encode("utf-8")
        state.bodies.put(etag, body)
    return json_response(body, etag=etag)


def _resolve(request: web.Request, state: ServerState) -> ResolvedPoll:
    """Who asks about which order since when: kept from the identical request before (see ``pollmemo``),
    or worked out and checked now (raising the 4xx if something is wrong)."""
    authorization = request.headers.get(hdrs.AUTHORIZATION)
    target = request.raw_path  # the request target exactly as sent, query included
    if authorization is not None:
        poll = state.polls.get(authorization, target)
        if poll is not None:
            return poll
    principal = request_principal(request, state.auth)
    order_id = query_order_id(request)
    since = parse_since(request.query.get("since"))
    authorize_order(state, principal, order_id)
    order = state.book.orders[order_id]
    poll = ResolvedPoll(principal=principal, order_id=order_id, order=order, since=since)
    if authorization is not None:
        state.polls.put(authorization, target, poll)
    return poll


def _messages_body(state: ServerState, order_id: str, role: Role, since: int | None) -> str:
    order = state.book.orders[order_id]
    cursor = order.cursor
    if since is not None and since >= cursor:
        items = ""
    else:
        # Capped at the book's cursor: a row committed on the writer thread but not yet accounted in the book
        # is left for the next poll, so the body always matches the cursor and ETag it is sent with.
        items = ",".join(state.db().since_json(order_id, since or 0, cursor))
    unread = order.unread_from(other_party(role))
    return f'{{"messages":[{items}],"unread":{unread},"cursor":{cursor}}}'


async def post_message(request: web.Request) -> web.Response:
    """POST /api/messages {"orderId", "content"[, "clientMessageId"]} -> 201 {"message"} once committed.

    With a ``clientMessageId`` the post is idempotent: a retry (its first 201 lost with a crash or a
    timeout) gets the message already stored, 201 again with ``Idempotent-Replayed: true``, and nobody
    receives it twice. The same key with other content is a 409.
    """
    state = request.app[STATE]
    principal = request_principal(request, state.auth)
    data = await read_json_object(request)
    order_id = require_str(data, "orderId")
    content = valid_content(data)
    key = client_message_id(data)
    authorize_order(state, principal, order_id)
    new = NewMessage(
        order_id=order_id,
        sender_type=principal.role,
        sender_name=principal.name,
        content=content,
        sender_id=principal.id,
        client_message_id=key,
    )
    if key is None:
        (message,) = await state.db().insert([new])
    else:
        message, created = await state.db().insert_once(new)
        if not created:
            if message.content != content:
                raise ApiError(
                    409,
                    "idempotency_conflict",
                    f"clientMessageId {key!r} was already used for a different message in this order.",
                )
            response = json_response(f'{{"message":{message.dumps()}}}', status=201)
            response.headers[REPLAYED] = "true"
            return response
    state.book.on_message(message)
    state.hub.publish(message)
    return json_response(f'{{"message":{message.dumps()}}}', status=201)


async def mark_read(request: web.Request) -> web.Response:
    """PUT /api/messages {"orderId"} -> {"updated": n}: the other party's messages become read."""
    state = request.app[STATE]
    principal = request_principal(request, state.auth)
    data = await read_json_object(request)
    order_id = require_str(data, "orderId")
    authorize_order(state, principal, order_id)
    sender = other_party(principal.role)
    updated = await state.db().mark_read(order_id, sender)
    state.book.on_mark_read(order_id, sender, updated)
    return json_response(f'{{"updated":{updated}}}')
