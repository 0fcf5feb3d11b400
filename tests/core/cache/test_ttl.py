"""Per-entry expiry: an expired entry is never returned, purged or not; time is passed in."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hld.core.cache import POLICIES
from hld.core.cache.ttl import TTLCache
from tests.core.cache.support import build


def _ttl(policy: str = "lru", capacity: int = 10, **options: Any) -> TTLCache[Any, Any]:
    return TTLCache(build(policy, capacity), **options)


@pytest.fixture(params=POLICIES)
def policy(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def test_an_entry_is_returned_until_its_deadline_and_never_after(policy: str) -> None:
    cache = _ttl(policy)
    cache.put("a", 1, now=100.0, ttl_s=5)
    assert cache.get("a", now=104.999) == 1
    assert cache.peek("a", now=104.999) == 1
    assert cache.contains("a", now=104.999)
    assert cache.get("a", now=105.0) is None  # expired once now reaches the deadline
    assert cache.peek("a", now=105.0) is None
    assert not cache.contains("a", now=105.0)


def test_expired_entries_are_hidden_before_they_are_purged() -> None:
    cache = _ttl()
    cache.put("a", 1, now=0.0, ttl_s=1)
    cache.put("b", 2, now=0.0, ttl_s=10)
    # Nothing purged yet: the entry is still held, but peek, contains and keys hide it.
    assert len(cache) == 2
    assert cache.peek("a", now=2.0) is None
    assert cache.peek("a", now=2.0, default="default") == "default"
    assert not cache.contains("a", now=2.0)
    assert cache.keys(now=2.0) == ["b"]
    assert cache.statistics().expirations == 0
    assert len(cache) == 2


def test_get_purges_the_expired_entry_it_meets_and_counts_a_miss() -> None:
    cache = _ttl()
    cache.put("a", 1, now=0.0, ttl_s=1)
    assert cache.get("a", now=1.5, default="gone") == "gone"
    stats = cache.statistics()
    assert (stats.hits, stats.misses, stats.expirations, stats.evictions) == (0, 1, 1, 0)
    assert len(cache) == 0


def test_expire_purges_everything_due_and_only_that() -> None:
    expired: list[tuple[str, int]] = []
    cache = TTLCache(build("lru", 10), on_expire=lambda k, v: expired.append((k, v)))
    for i, ttl_s in enumerate([3, 1, 2, 5, 4]):
        cache.put(f"k{i}", i, now=0.0, ttl_s=ttl_s)
    assert cache.expire(now=2.5) == 2
    assert sorted(expired) == [("k1", 1), ("k2", 2)]
    assert sorted(cache.keys(now=2.5)) == ["k0", "k3", "k4"]
    assert cache.expire(now=2.5) == 0
    assert cache.statistics().expirations == 2


def test_put_purges_expired_entries_before_evicting_live_ones() -> None:
    evicted: list[str] = []
    cache = TTLCache(build("lru", 2, on_evict=lambda k, _v: evicted.append(k)))
    cache.put("short", 1, now=0.0, ttl_s=1)
    cache.put("long", 2, now=0.0, ttl_s=100)
    cache.get("short", now=0.5)  # "long" is now the least recently used
    cache.put("new", 3, now=2.0, ttl_s=100)
    assert evicted == []  # the expired entry made room, not the live one
    assert sorted(cache.keys(now=2.0)) == ["long", "new"]


def test_entries_without_a_ttl_never_expire() -> None:
    cache = _ttl()
    cache.put("a", 1, now=0.0)
    assert cache.get("a", now=1e12) == 1
    assert cache.ttl_remaining_s("a", now=5.0) is None


def test_the_default_ttl_applies_when_none_is_given() -> None:
    cache = _ttl(default_ttl_s=10)
    cache.put("a", 1, now=0.0)
    cache.put("b", 2, now=0.0, ttl_s=30)
    assert cache.ttl_remaining_s("a", now=4.0) == 6.0
    assert cache.get("a", now=10.0) is None
    assert cache.get("b", now=10.0) == 2


def test_replacing_an_entry_resets_its_deadline() -> None:
    cache = _ttl()
    cache.put("a", 1, now=0.0, ttl_s=5)
    cache.put("a", 2, now=4.0, ttl_s=5)
    assert cache.get("a", now=8.0) == 2
    cache.put("a", 3, now=8.0)  # no ttl now: lives forever
    assert cache.get("a", now=1000.0) == 3
    assert cache.expire(now=1000.0) == 0


def test_next_deadline_tells_when_to_purge() -> None:
    cache = _ttl()
    assert cache.next_deadline() is None
    cache.put("a", 1, now=0.0, ttl_s=7)
    cache.put("b", 1, now=0.0, ttl_s=3)
    assert cache.next_deadline() == 3.0
    cache.delete("b")
    assert cache.next_deadline() == 7.0


def test_evicted_entries_take_their_deadline_with_them() -> None:
    evicted: list[str] = []
    cache = TTLCache(build("fifo", 2, on_evict=lambda k, _v: evicted.append(k)))
    cache.put("a", 1, now=0.0, ttl_s=5)
    cache.put("b", 1, now=0.0, ttl_s=5)
    cache.put("c", 1, now=1.0, ttl_s=5)  # evicts a
    assert evicted == ["a"]
    assert cache.ttl_remaining_s("a", now=1.0) is None
    assert cache.expire(now=10.0) == 2  # b and c, not a again
    assert cache.statistics().expirations == 2
    assert cache.statistics().evictions == 1


def test_stale_heap_items_stay_bounded() -> None:
    cache = _ttl(capacity=4)
    for i in range(5000):
        cache.put(i % 4, i, now=float(i), ttl_s=1e6)
    assert len(cache._heap) <= 2 * 4 + 64


@pytest.mark.parametrize("ttl_s", [0, -1, float("nan"), float("inf")])
def test_a_ttl_that_is_not_a_positive_finite_number_is_a_value_error(ttl_s: float) -> None:
    cache = _ttl()
    with pytest.raises(ValueError, match="ttl_s must be a positive finite number"):
        cache.put("a", 1, now=0.0, ttl_s=ttl_s)
    with pytest.raises(ValueError, match="default_ttl_s must be a positive finite number"):
        _ttl(default_ttl_s=ttl_s)


@pytest.mark.parametrize("ttl_s", ["5", True, [1]])
def test_a_ttl_that_is_not_a_number_is_a_type_error(ttl_s: Any) -> None:
    with pytest.raises(TypeError, match="must be a number of seconds"):
        _ttl().put("a", 1, now=0.0, ttl_s=ttl_s)


def test_the_inner_cache_must_be_a_cache() -> None:
    with pytest.raises(TypeError, match="inner must be a Cache"):
        TTLCache({})  # type: ignore[arg-type]


OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["put", "get", "peek", "contains", "keys", "expire", "delete"]),
              st.integers(0, 5), st.integers(1, 4), st.integers(0, 3)),
    max_size=40)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(operations=OPERATIONS)
def test_no_operation_ever_returns_an_expired_entry(
        operations: list[tuple[str, int, int, int]]) -> None:
    """Against a model of deadlines: whatever the order of calls, nothing expired shows."""
    cache = _ttl("lru", 4)
    deadline: dict[int, float] = {}
    now = 0.0
    for op, key, ttl_s, step in operations:
        now += step
        if op == "put":
            cache.put(key, now, now=now, ttl_s=ttl_s)
            deadline[key] = now + ttl_s
        elif op == "get":
            if cache.get(key, now=now) is not None:
                assert now < deadline[key]
        elif op == "peek":
            if cache.peek(key, now=now) is not None:
                assert now < deadline[key]
        elif op == "contains":
            if cache.contains(key, now=now):
                assert now < deadline[key]
        elif op == "keys":
            assert all(now < deadline[k] for k in cache.keys(now=now))
        elif op == "expire":
            cache.expire(now)
            assert all(now < deadline[k] for k in cache.inner)
        else:
            cache.delete(key)
        assert len(cache) <= 4
