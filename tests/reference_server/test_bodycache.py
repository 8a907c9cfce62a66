"""reference_server.bodycache: a bounded, first-in-first-out cache of encoded bodies by ETag."""

import pytest

from reference_server.bodycache import BodyCache


def test_a_stored_body_is_returned_for_its_etag():
    cache = BodyCache(capacity=2)
    cache.put('"a"', b"A")
    assert cache.get('"a"') == b"A"
    assert cache.get('"b"') is None


def test_the_oldest_entry_leaves_when_full():
    cache = BodyCache(capacity=2)
    for key in ('"a"', '"b"', '"c"'):
        cache.put(key, key.encode())
    assert len(cache) == 2
    assert cache.get('"a"') is None and cache.get('"c"') == b'"c"'


def test_replacing_an_entry_does_not_evict_another():
    cache = BodyCache(capacity=2)
    cache.put('"a"', b"1")
    cache.put('"b"', b"2")
    cache.put('"a"', b"3")
    assert cache.get('"a"') == b"3" and cache.get('"b"') == b"2"


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="capacity must be >= 1"):
        BodyCache(capacity=0)
