"""reference_server.auth: HMAC-signed bearer tokens."""

from __future__ import annotations

import pytest

from reference_server.auth import TokenAuthority
from reference_server.errors import ApiError


def test_issued_token_verifies_to_the_same_identity():
    authority = TokenAuthority("k")
    p = authority.verify(
        authority.issue(id="c7", role="customer", name="Customer 7", ttl_s=60, now=1000), now=1001
    )
    assert (p.id, p.role, p.name, p.expires_at) == ("c7", "customer", "Customer 7", 1060)


def test_tampered_payload_is_rejected():
    authority = TokenAuthority("k")
    token = authority.issue(id="c1", role="customer", name="x", ttl_s=60)
    admin = authority.issue(id="c1", role="admin", name="x", ttl_s=60)
    forged = admin.split(".")[0] + "." + token.split(".")[1]
    with pytest.raises(ApiError) as info:
        authority.verify(forged)
    assert (info.value.status, info.value.code) == (401, "invalid_token")


def test_expiry_is_enforced_even_for_cached_tokens():
    authority = TokenAuthority("k")
    token = authority.issue(id="c1", role="customer", name="x", ttl_s=10, now=1000)
    authority.verify(token, now=1005)
    with pytest.raises(ApiError) as info:
        authority.verify(token, now=1011)
    assert info.value.code == "token_expired"


@pytest.mark.parametrize("token", ["", ".", "abc", "a.b.c", "é.x", "e30.sig"])
def test_garbage_is_rejected_with_401(token):
    with pytest.raises(ApiError) as info:
        TokenAuthority("k").verify(token)
    assert info.value.status == 401


def test_verified_token_cache_is_bounded():
    authority = TokenAuthority("k", cache_max=3)
    for i in range(10):
        authority.verify(authority.issue(id=f"c{i}", role="customer", name="x", ttl_s=60))
    assert len(authority._cache) <= 3


def test_unremembered_verification_leaves_the_cache_alone():
    authority = TokenAuthority("k")
    token = authority.issue(id="c1", role="customer", name="x", ttl_s=60)
    assert authority.verify(token, remember=False).id == "c1"
    assert authority._cache == {}


def test_a_bearer_header_is_cached_by_its_whole_value():
    authority = TokenAuthority("k")
    token = authority.issue(id="c1", role="customer", name="x", ttl_s=60)
    assert authority.verify_header(f"Bearer {token}").id == "c1"
    assert list(authority._cache) == [f"Bearer {token}"]


def test_expiry_is_enforced_for_cached_headers():
    authority = TokenAuthority("k")
    header = "Bearer " + authority.issue(id="c1", role="customer", name="x", ttl_s=10, now=1000)
    authority.verify_header(header, now=1005)
    with pytest.raises(ApiError) as info:
        authority.verify_header(header, now=1011)
    assert info.value.code == "token_expired"


@pytest.mark.parametrize("scheme", ["bearer", "BEARER"])
def test_the_scheme_is_case_insensitive(scheme):
    authority = TokenAuthority("k")
    token = authority.issue(id="c1", role="customer", name="x", ttl_s=60)
    assert authority.verify_header(f"{scheme}  {token} ").id == "c1"


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer ", "Token x.y"])
def test_a_header_that_is_not_a_bearer_token_is_401(header):
    with pytest.raises(ApiError) as info:
        TokenAuthority("k").verify_header(header)
    assert (info.value.status, info.value.code) == (401, "invalid_token")


def test_a_forged_header_is_not_cached():
    authority = TokenAuthority("k")
    with pytest.raises(ApiError):
        authority.verify_header("Bearer e30.forged")
    assert authority._cache == {}
