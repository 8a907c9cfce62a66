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


def test_total_bytes_stay_within_the_budget():
    cache = BodyCache(capacity=100, max_bytes=10)
    for i in range(6):
        cache.put(f'"{i}"', b"abcd")
    assert cache.bytes <= 10 and len(cache) == 2
    assert cache.get('"5"') == b"abcd" and cache.get('"3"') is None


def test_a_body_larger_than_the_budget_is_not_kept():
    cache = BodyCache(capacity=10, max_bytes=4)
    cache.put('"small"', b"ab")
    cache.put('"big"', b"abcde")
    assert cache.get('"big"') is None and cache.get('"small"') == b"ab"


def test_replacing_an_entry_accounts_its_bytes_once():
    cache = BodyCache(capacity=10, max_bytes=100)
    cache.put('"a"', b"x" * 40)
    cache.put('"a"', b"y" * 10)
    assert cache.bytes == 10


def test_max_bytes_must_be_positive():
    with pytest.raises(ValueError, match="max_bytes must be >= 1"):
        BodyCache(max_bytes=0)
