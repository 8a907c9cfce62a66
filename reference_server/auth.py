"""Bearer tokens: who is asking (a customer or an admin), signed so nobody can pretend to be someone else.

A token is ``<payload>.<signature>``, both base64url without padding. The payload is compact JSON
``{"sub": id, "role": "customer"|"admin", "name": display name, "exp": unix seconds}`` and the signature is
HMAC-SHA256 over the payload with the server's secret. Sender type and name of a message come from here,
never from the request body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import urllib.parse
from dataclasses import dataclass
from typing import Literal

from aiohttp import hdrs, web

from reference_server.errors import ApiError

__all__ = ["Principal", "Role", "TokenAuthority", "request_principal"]

Role = Literal["customer", "admin"]
ROLES: tuple[Role, ...] = ("customer", "admin")


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """The authenticated caller."""

    id: str
    """Customer id (``c1``) or admin id (``a1``)."""
    role: Role
    """``customer`` reaches only its own orders; ``admin`` reaches all."""
    name: str
    """Display name, stored as ``senderName`` on the messages this caller posts."""
    expires_at: float
    """Unix time after which the token is refused."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenAuthority:
    """Issues and verifies tokens with one secret. Verified tokens are cached (bounded) because the poll
    path is hot and an HMAC + JSON decode per request would cost more than the rest of a 304."""

    def __init__(self, secret: str, *, cache_max: int = 100_000) -> None:
        self._key = secret.encode("utf-8")
        self._cache: dict[str, Principal] = {}
        self._cache_max = cache_max

    def issue(self, *, id: str, role: Role, name: str, ttl_s: float, now: float | None = None) -> str:
        """A token for this identity, valid for ``ttl_s`` seconds from ``now``."""
        issued = time.time() if now is None else now
        payload = {"sub": id, "role": role, "name": name, "exp": int(issued + ttl_s)}
        body = _b64(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
        return f"{body}.{self._sign(body)}"

    def verify(self, token: str, *, now: float | None = None, remember: bool = True) -> Principal:
        """The principal a token names; raises ApiError(401) if it is malformed, forged or expired."""
        principal = self._cache.get(token)
        if principal is None:
            principal = self._decode(token)
            if remember:
                self._remember(token, principal)
        return _unexpired(principal, now)

    def verify_header(self, header: str, *, now: float | None = None, remember: bool = True) -> Principal:
        """The principal of a whole ``Authorization`` value, which must be ``Bearer <token>``; raises
        ApiError(401) otherwise.

        Cached by the whole header value rather than the token inside it: a repeat caller then costs one
        lookup of the string the request already holds, with no slicing and no format checks (about 0.3 µs
        of a poll). Header values contain a space and tokens never do, so the two kinds of key cannot meet.
        """
        principal = self._cache.get(header)
        if principal is None:
            principal = self._decode(_bearer_token(header))
            if remember:
                self._remember(header, principal)
        return _unexpired(principal, now)

    def _remember(self, key: str, principal: Principal) -> None:
        if len(self._cache) >= self._cache_max:
            self._cache.clear()  # crude but bounded; refills from the live working set
        self._cache[key] = principal

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())

    def _decode(self, token: str) -> Principal:
        body, _, signature = token.partition(".")
        if not body or not signature or not body.isascii():
            raise _bad_token()
        if not hmac.compare_digest(self._sign(body), signature):
            raise _bad_token()
        try:
            payload = json.loads(_unb64(body))
        except (binascii.Error, ValueError):
            raise _bad_token() from None
        if not isinstance(payload, dict):
            raise _bad_token()
        sub, role, name, exp = (payload.get(k) for k in ("sub", "role", "name", "exp"))
        if not (isinstance(sub, str) and role in ROLES and isinstance(name, str)):
            raise _bad_token()
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise _bad_token()
        # The role constant, not the decoded string: one fewer object per cached token.
        return Principal(id=sub, role=ROLES[ROLES.index(role)], name=name, expires_at=float(exp))


def _bad_token() -> ApiError:
    return ApiError(401, "invalid_token", "The bearer token is not valid; it may be mangled or forged.")


def _unexpired(principal: Principal, now: float | None) -> Principal:
    """The principal, unless its token has expired (checked on every use, cached or not)."""
    if principal.expires_at <= (time.time() if now is None else now):
        raise ApiError(401, "token_expired", "Your token has expired; sign in again to get a new one.")
    return principal


def _bearer_token(header: str) -> str:
    """The token in an ``Authorization`` value; the scheme is case-insensitive, as HTTP says."""
    if header.startswith("Bearer ") and " " not in header[7:]:
        return header[7:]  # the usual exact form
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, "invalid_token", "Use 'Authorization: Bearer <token>'.")
    return value.strip()


def _query_token(query_string: str) -> str | None:
    # Parsed by hand rather than through ``request.query``: that caches the parsed query (token included)
    # on the request's URL for the life of the connection, about 0.5 KiB per idle WebSocket.
    for key, value in urllib.parse.parse_qsl(query_string, keep_blank_values=True):
        if key == "token":
            return value
    return None


def request_principal(
    request: web.Request, authority: TokenAuthority, *, allow_query: bool = False
) -> Principal:
    """The caller of ``request``: ``Authorization: Bearer`` always, ``?token=`` only where browsers cannot
    set headers (EventSource and WebSocket)."""
    header = request.headers.get(hdrs.AUTHORIZATION)  # an istr name skips case-folding the lookup key
    # Push connections authenticate once per connection, so caching their token would only cost memory
    # (about 0.3 KiB per idle connection); the cache is for the poll path, which authenticates every request.
    if header is not None:
        return authority.verify_header(header, remember=not allow_query)
    token = _query_token(request.query_string) if allow_query else None
    if not token:
        raise ApiError(401, "missing_token", "This endpoint needs a bearer token; none was sent.")
    return authority.verify(token, remember=False)
