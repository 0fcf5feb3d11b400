"""Write policies over an in-memory backing store: what reaches the store, and when."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hld.core.cache.write import (
    CacheAside,
    WriteAround,
    WriteBack,
    WritePolicy,
    WriteThrough,
    make_write_policy,
)
from tests.core.cache.support import build


class MemoryStore:
    """A backing store that records every call."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = dict(data or {})
        self.calls: list[tuple[str, str]] = []

    def load(self, key: str, /) -> Any:
        self.calls.append(("load", key))
        return self.data.get(key)

    def store(self, key: str, value: Any, /) -> None:
        self.calls.append(("store", key))
        self.data[key] = value

    def remove(self, key: str, /) -> None:
        self.calls.append(("remove", key))
        self.data.pop(key, None)


POLICY_CLASSES: list[type[WritePolicy[Any, Any]]] = [
    WriteThrough, WriteAround, CacheAside, WriteBack]


@pytest.fixture(params=POLICY_CLASSES, ids=lambda c: c.name)
def policy_class(request: pytest.FixtureRequest) -> type[WritePolicy[Any, Any]]:
    cls: type[WritePolicy[Any, Any]] = request.param
    return cls


# -- reads (the same for every policy) --------------------------------------------------


def test_a_read_miss_loads_from_the_store_once_then_hits(
        policy_class: type[WritePolicy[Any, Any]]) -> None:
    store = MemoryStore({"a": 1})
    policy = policy_class(build("lru", 4), store)
    assert policy.get("a") == 1
    assert policy.get("a") == 1
    assert store.calls == [("load", "a")]
    stats = policy.statistics()
    assert (stats.loads, stats.cache.hits, stats.cache.misses) == (1, 1, 1)


def test_a_key_absent_from_the_store_is_not_cached(
        policy_class: type[WritePolicy[Any, Any]]) -> None:
    store = MemoryStore()
    policy = policy_class(build("lru", 4), store)
    assert policy.get("nope") is None
    assert policy.get("nope") is None
    assert store.calls == [("load", "nope"), ("load", "nope")]
    assert len(policy.cache) == 0


def test_delete_removes_from_store_and_cache(
        policy_class: type[WritePolicy[Any, Any]]) -> None:
    store = MemoryStore({"a": 1})
    policy = policy_class(build("lru", 4), store)
    policy.get("a")
    policy.delete("a")
    assert "a" not in store.data
    assert "a" not in policy.cache
    assert policy.get("a") is None
    assert policy.statistics().removes == 1


def test_every_write_is_readable_back(policy_class: type[WritePolicy[Any, Any]]) -> None:
    store = MemoryStore()
    policy = policy_class(build("lru", 3), store)
    for i in range(10):
        policy.put(f"k{i}", i)
    assert [policy.get(f"k{i}") for i in range(10)] == list(range(10))


def test_writing_none_is_refused_because_none_means_absent(
        policy_class: type[WritePolicy[Any, Any]]) -> None:
    store = MemoryStore()
    policy = policy_class(build("lru", 4), store)
    with pytest.raises(ValueError, match="None means absent"):
        policy.put("a", None)
    assert store.calls == []
    assert len(policy.cache) == 0


# -- write-through ----------------------------------------------------------------------


def test_write_through_updates_cache_and_store_together() -> None:
    store = MemoryStore()
    policy = WriteThrough(build("lru", 4), store)
    policy.put("a", 1)
    assert store.data == {"a": 1}
    assert policy.cache.peek("a") == 1
    assert policy.get("a") == 1
    assert store.calls == [("store", "a")]  # the read hit: no load
    assert policy.statistics().stores == 1


def test_write_through_stores_before_caching_so_a_failing_store_leaves_no_trace() -> None:
    class Failing(MemoryStore):
        def store(self, key: str, value: Any, /) -> None:
            raise OSError("store down")

    policy = WriteThrough(build("lru", 4), Failing())
    with pytest.raises(OSError, match="store down"):
        policy.put("a", 1)
    assert "a" not in policy.cache


# -- write-around / cache-aside ---------------------------------------------------------


@pytest.mark.parametrize("cls", [WriteAround, CacheAside])
def test_write_around_writes_the_store_and_invalidates_the_cache(
        cls: type[WritePolicy[Any, Any]]) -> None:
    store = MemoryStore({"a": 1})
    policy = cls(build("lru", 4), store)
    assert policy.get("a") == 1
    policy.put("a", 2)
    assert "a" not in policy.cache
    assert store.data == {"a": 2}
    assert policy.get("a") == 2  # reloaded, never the stale 1
    policy.put("b", 3)  # not cached: nothing to invalidate
    stats = policy.statistics()
    assert (stats.loads, stats.stores, stats.invalidations) == (2, 2, 1)


# -- write-back -------------------------------------------------------------------------


def test_write_back_keeps_writes_in_the_cache_until_flushed() -> None:
    store = MemoryStore()
    policy = WriteBack(build("lru", 4), store)
    policy.put("a", 1)
    policy.put("a", 2)
    policy.put("b", 3)
    assert store.data == {}
    assert policy.dirty == {"a", "b"}
    assert policy.flush() == 2
    assert store.data == {"a": 2, "b": 3}
    assert policy.dirty == frozenset()
    assert policy.flush() == 0
    stats = policy.statistics()
    assert (stats.stores, stats.flushes, stats.dirty) == (2, 2, 0)


def test_write_back_writes_a_dirty_entry_when_it_is_evicted() -> None:
    store = MemoryStore({"clean": 0})
    seen: list[str] = []
    policy = WriteBack(build("fifo", 2, on_evict=lambda k, _v: seen.append(k)), store)
    policy.get("clean")  # cached, not dirty
    policy.put("a", 1)  # dirty
    policy.put("b", 2)  # evicts clean: nothing to write
    assert store.calls == [("load", "clean")]
    policy.put("c", 3)  # evicts a: written back
    assert store.data == {"clean": 0, "a": 1}
    assert seen == ["clean", "a"]  # the cache's own listener still runs
    assert policy.dirty == {"b", "c"}
    assert policy.statistics().flushes == 1


def test_write_back_crash_loses_exactly_the_unflushed_writes() -> None:
    store = MemoryStore()
    policy = WriteBack(build("lru", 3), store)
    for i in range(5):  # k0, k1 evicted and written back; k2..k4 dirty
        policy.put(f"k{i}", i)
    policy.flush()  # k2..k4 written
    policy.put("k2", 20)  # dirty again
    policy.put("k5", 5)  # dirty; evicts k3 (clean)
    policy.get("k0")  # clean, loaded
    assert policy.crash() == 2
    assert store.data == {"k0": 0, "k1": 1, "k2": 2, "k3": 3, "k4": 4}
    assert len(policy.cache) == 0
    stats = policy.statistics()
    assert (stats.lost_writes, stats.dirty, stats.cache.evictions) == (2, 0, 4)
    assert policy.get("k2") == 2  # the store's older value: the write of 20 was lost
    assert policy.crash() == 0
    assert policy.statistics().lost_writes == 2


def test_write_back_delete_drops_the_dirty_write() -> None:
    store = MemoryStore()
    policy = WriteBack(build("lru", 3), store)
    policy.put("a", 1)
    policy.delete("a")
    assert policy.flush() == 0
    assert policy.crash() == 0
    assert store.data == {}


# -- construction -----------------------------------------------------------------------


def test_write_policies_are_built_by_name() -> None:
    store = MemoryStore()
    for name, cls in [("write-through", WriteThrough), ("write-around", WriteAround),
                      ("cache-aside", CacheAside), ("WRITE-BACK", WriteBack)]:
        assert type(make_write_policy(name, build("lru", 2), store)) is cls


def test_an_unknown_write_policy_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown write policy 'later'.*write-back"):
        make_write_policy("later", build("lru", 2), MemoryStore())


def test_a_store_without_the_protocol_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"has no load\(\)"):
        WriteThrough(build("lru", 2), object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cache must be a Cache"):
        WriteThrough({}, MemoryStore())  # type: ignore[arg-type]


# -- properties over any sequence of operations -----------------------------------------

WRITE_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, 7), st.integers(0, 50)),
        st.tuples(st.just("get"), st.integers(0, 7), st.just(0)),
        st.tuples(st.just("delete"), st.integers(0, 7), st.just(0)),
        st.tuples(st.just("flush"), st.just(0), st.just(0)),
        st.tuples(st.just("crash"), st.just(0), st.just(0)),
    ),
    max_size=60)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(operations=WRITE_OPS, policy_name=st.sampled_from(["lru", "fifo", "sieve", "s3fifo"]))
def test_write_back_holds_every_write_until_a_crash_and_counts_what_it_loses(
        operations: list[tuple[str, int, int]], policy_name: str) -> None:
    store = MemoryStore()
    policy = WriteBack(build(policy_name, 3), store)
    latest: dict[str, int] = {}  # what the application last wrote (or read back)
    written_at: dict[str, int] = {}  # key -> length of the store's call log at its last put
    lost_total = 0
    for op, n, value in operations:
        key = f"k{n}"
        if op == "put":
            written_at[key] = len(store.calls)
            policy.put(key, value)
            latest[key] = value
        elif op == "get":
            assert policy.get(key) == latest.get(key)
        elif op == "delete":
            policy.delete(key)
            latest.pop(key, None)
            written_at.pop(key, None)
        elif op == "flush":
            policy.flush()
            assert store.data == latest
        else:
            # Lost: the writes no store() call has carried since they were made.
            unflushed = {k for k, at in written_at.items() if ("store", k) not in store.calls[at:]}
            lost = policy.crash()
            assert lost == len(unflushed)
            lost_total += lost
            latest = dict(store.data)  # what survives is what the store has
            written_at.clear()
        # Every write is in the store, or dirty in the cache; clean copies match the store.
        for k, v in latest.items():
            assert store.data.get(k) == v or (k in policy.dirty and policy.cache.peek(k) == v)
        for k in policy.cache:
            if k not in policy.dirty:
                assert policy.cache.peek(k) == store.data.get(k)
    assert policy.statistics().lost_writes == lost_total


@settings(max_examples=60, deadline=None, derandomize=True)
@given(operations=WRITE_OPS)
def test_write_through_and_write_around_keep_the_store_current_and_the_cache_coherent(
        operations: list[tuple[str, int, int]]) -> None:
    for cls in (WriteThrough, WriteAround):
        store = MemoryStore()
        policy = cls(build("lru", 3), store)
        latest: dict[str, int] = {}
        for op, n, value in operations:
            key = f"k{n}"
            if op == "put":
                policy.put(key, value)
                latest[key] = value
            elif op == "get":
                assert policy.get(key) == latest.get(key)
            elif op == "delete":
                policy.delete(key)
                latest.pop(key, None)
            assert store.data == latest
            assert all(policy.cache.peek(k) == store.data.get(k) for k in policy.cache)
