"""The contract every cache policy keeps, run against every registered policy.

A policy registered in ``hld.core.cache`` is picked up here automatically; offline policies
(Belady's OPT needs the future trace) are skipped and tested on their own.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest

from hld.core.cache import POLICIES, Cache, CacheStatistics, make
from tests.core.cache.support import build, replay, zipf_like

CAPACITY = 8


@pytest.fixture(params=POLICIES)
def policy(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def _recording(policy: str, capacity: int = CAPACITY,
               **options: Any) -> tuple[Cache[Any, Any], list[tuple[Any, Any]]]:
    evicted: list[tuple[Any, Any]] = []
    cache = build(policy, capacity, on_evict=lambda k, v: evicted.append((k, v)), **options)
    return cache, evicted


def _random_ops(seed: int, n: int, keys: int) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    ops = rng.choices(["get", "put", "put", "delete", "peek"], k=n)
    return [(op, rng.randrange(keys)) for op in ops]


def _apply(cache: Cache[Any, Any], op: str, key: int) -> None:
    if op == "get":
        cache.get(key)
    elif op == "put":
        cache.put(key, key % 6)
    elif op == "delete":
        cache.delete(key)
    else:
        cache.peek(key)


# -- capacity ---------------------------------------------------------------------------


def test_size_never_exceeds_a_count_capacity(policy: str) -> None:
    cache = build(policy, CAPACITY)
    for op, key in _random_ops(seed=1, n=600, keys=30):
        _apply(cache, op, key)
        assert len(cache) <= CAPACITY
        assert cache.weight == len(cache)


def test_weight_never_exceeds_a_weighed_capacity(policy: str) -> None:
    capacity = 12
    cache = build(policy, capacity, weigher=lambda _k, v: v)
    for op, key in _random_ops(seed=2, n=600, keys=30):
        _apply(cache, op, key)
        assert cache.weight <= capacity
        # The weigher is the value, so the held weight is the sum of the values.
        assert sum(v for k in cache if (v := cache.peek(k)) is not None) == cache.weight


def test_a_full_cache_of_ones_holds_exactly_capacity_entries(policy: str) -> None:
    cache = build(policy, CAPACITY, trace=range(3 * CAPACITY))
    for key in range(3 * CAPACITY):
        cache.put(key, key)
    assert len(cache) == CAPACITY


def test_zero_weight_entries_are_held_without_using_capacity(policy: str) -> None:
    cache = build(policy, 2, weigher=lambda _k, v: v)
    cache.put("free", 0)
    cache.put("a", 1)
    cache.put("b", 1)
    assert {"free", "a", "b"} == set(cache)
    assert cache.weight == 2


# -- reading ----------------------------------------------------------------------------


def test_get_returns_the_value_or_the_default_and_counts(policy: str) -> None:
    cache = build(policy, CAPACITY)
    cache.put("a", 1)
    assert cache.get("a") == 1
    assert cache.get("b") is None
    assert cache.get("b", "missing") == "missing"
    stats = cache.statistics()
    assert (stats.hits, stats.misses) == (1, 2)


def test_peek_returns_the_value_without_counting(policy: str) -> None:
    cache = build(policy, CAPACITY)
    cache.put("a", 1)
    assert cache.peek("a") == 1
    assert cache.peek("b") is None
    assert cache.peek("b", 0) == 0
    stats = cache.statistics()
    assert (stats.hits, stats.misses) == (0, 0)


def test_peek_and_contains_do_not_change_what_is_evicted(policy: str) -> None:
    plain, plain_evicted = _recording(policy)
    peeking, peeking_evicted = _recording(policy)
    for op, key in _random_ops(seed=3, n=800, keys=25):
        _apply(plain, op, key)
        _apply(peeking, op, key)
        for probe in (key, key + 1, key + 2):
            peeking.peek(probe)
            _ = probe in peeking
    assert plain_evicted == peeking_evicted
    assert sorted(plain) == sorted(peeking)
    assert plain.statistics() == peeking.statistics()


def test_contains_and_len_follow_puts_and_deletes(policy: str) -> None:
    cache = build(policy, CAPACITY)
    assert len(cache) == 0
    assert "a" not in cache
    cache.put("a", 1)
    cache.put("b", 2)
    assert "a" in cache
    assert len(cache) == 2
    cache.delete("a")
    assert "a" not in cache
    assert len(cache) == 1


def test_iteration_yields_exactly_the_resident_keys(policy: str) -> None:
    cache, evicted = _recording(policy)
    for key in range(20):
        cache.put(key, key)
    resident = set(cache)
    assert len(cache) == len(resident)
    assert set(range(20)) == resident | {k for k, _ in evicted}
    assert all(key in cache for key in resident)


# -- writing ----------------------------------------------------------------------------


def test_updating_a_resident_key_replaces_the_value_and_evicts_nothing(policy: str) -> None:
    cache, evicted = _recording(policy)
    for key in range(CAPACITY):
        cache.put(key, key)
    for key in range(CAPACITY):
        cache.put(key, key + 100)
    assert evicted == []
    assert len(cache) == CAPACITY
    assert [key + 100 for key in range(CAPACITY)] == [cache.peek(k) for k in range(CAPACITY)]


def test_an_update_that_changes_the_weight_readmits_the_entry(policy: str) -> None:
    cache = build(policy, 10, weigher=lambda _k, v: v)
    cache.put("a", 2)
    cache.put("b", 3)
    cache.put("a", 5)
    assert cache.peek("a") == 5
    assert cache.weight == 8
    assert cache.statistics().evictions == 0


def test_delete_removes_the_key_and_is_not_an_eviction(policy: str) -> None:
    cache, evicted = _recording(policy)
    cache.put("a", 1)
    assert cache.delete("a") is True
    assert cache.delete("a") is False
    assert cache.get("a") is None
    assert evicted == []
    assert cache.statistics().evictions == 0
    assert cache.weight == 0


def test_deleted_keys_free_their_room(policy: str) -> None:
    cache, evicted = _recording(policy)
    for key in range(CAPACITY):
        cache.put(key, key)
    for key in range(0, CAPACITY, 2):
        cache.delete(key)
    for key in range(100, 100 + CAPACITY // 2):
        cache.put(key, key)
    assert evicted == []
    assert len(cache) == CAPACITY


def test_clear_empties_the_cache_without_evicting(policy: str) -> None:
    cache, evicted = _recording(policy)
    for key in range(5):
        cache.put(key, key)
    cache.clear()
    assert len(cache) == 0
    assert cache.weight == 0
    assert evicted == []
    cache.put("again", 1)
    assert cache.get("again") == 1


# -- statistics and the listener --------------------------------------------------------


def test_on_evict_is_called_once_per_eviction_with_the_evicted_pair(policy: str) -> None:
    cache, evicted = _recording(policy)
    deleted: set[int] = set()
    for op, key in _random_ops(seed=4, n=1000, keys=40):
        if op == "delete" and cache.delete(key):
            deleted.add(key)
        else:
            _apply(cache, op, key)
    stats = cache.statistics()
    assert len(evicted) == stats.evictions
    assert all(value == key % 6 for key, value in evicted)
    assert stats.evictions > 0


@pytest.mark.parametrize("weighted", [False, True], ids=["count", "weight"])
def test_keys_leave_only_by_delete_or_by_a_reported_eviction(policy: str, weighted: bool) -> None:
    evicted: list[tuple[Any, Any]] = []
    weigher = (lambda _k, v: v % 4) if weighted else None
    cache = build(policy, 6, weigher=weigher, on_evict=lambda k, v: evicted.append((k, v)))
    last_value: dict[int, int] = {}
    before: set[int] = set()
    for step, (op, key) in enumerate(_random_ops(seed=8, n=800, keys=20)):
        evicted.clear()
        deleted = False
        if op == "put":
            cache.put(key, step)
            last_value[key] = step
        elif op == "delete":
            deleted = cache.delete(key)
        else:
            _apply(cache, op, key)
        after = set(cache)
        gone = {k for k, _ in evicted}
        assert len(gone) == len(evicted)  # each victim reported once
        # An admission filter (W-TinyLFU) may turn the new key itself away: an eviction.
        refused = {key} if op == "put" and key not in before and key in gone else set()
        assert not refused & after
        assert before - after == (gone - refused) | ({key} if deleted else set())
        assert all(value == last_value[k] for k, value in evicted)
        before = after


def test_evicted_keys_are_gone_when_the_listener_runs(policy: str) -> None:
    seen: list[bool] = []
    cache: Cache[Any, Any]

    def listener(key: Any, _value: Any) -> None:
        seen.append(key in cache)

    cache = build(policy, 4, on_evict=listener)
    for key in range(20):
        cache.put(key, key)
    assert seen
    assert not any(seen)


def test_statistics_count_hits_misses_and_evictions(policy: str) -> None:
    requests = zipf_like(2000, keys=60, seed=5)
    cache, evicted = _recording(policy, trace=requests)
    hits = 0
    for key in requests:
        if cache.get(key) is None:
            cache.put(key, key)
        else:
            hits += 1
    stats = cache.statistics()
    assert hits == stats.hits
    assert len(requests) - hits == stats.misses
    assert len(evicted) == stats.evictions
    assert len(requests) == stats.requests
    assert hits / len(requests) == pytest.approx(stats.hit_ratio)
    assert pytest.approx(stats.hit_ratio + stats.miss_ratio) == 1.0
    assert (len(cache), cache.weight, CAPACITY) == (stats.size, stats.weight, stats.capacity)


def test_statistics_are_a_frozen_snapshot(policy: str) -> None:
    cache = build(policy, CAPACITY, trace=["a", "a"])
    before = cache.statistics()
    cache.put("a", 1)
    cache.get("a")
    assert CacheStatistics(0, 0, 0, 0, 0, CAPACITY) == before
    with pytest.raises(dataclasses.FrozenInstanceError):
        before.hits = 3  # type: ignore[misc]


def test_hit_ratio_is_zero_before_any_request(policy: str) -> None:
    stats = build(policy, CAPACITY, trace=[]).statistics()
    assert stats.hit_ratio == 0.0
    assert stats.miss_ratio == 0.0


def test_reset_statistics_zeroes_the_counters_only(policy: str) -> None:
    cache = build(policy, 2)
    replay(cache, [1, 2, 3, 1, 1])
    cache.reset_statistics()
    stats = cache.statistics()
    assert (stats.hits, stats.misses, stats.evictions) == (0, 0, 0)
    assert stats.size == 2


def test_replays_are_deterministic(policy: str) -> None:
    requests = zipf_like(3000, keys=200, seed=6)
    first, second = build(policy, 20, trace=requests), build(policy, 20, trace=requests)
    replay(first, requests)
    replay(second, requests)
    assert first.statistics() == second.statistics()
    assert sorted(first) == sorted(second)
    assert 0.0 < first.statistics().hit_ratio < 1.0


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [0, -1, -100])
def test_a_capacity_below_one_is_a_value_error(policy: str, capacity: int) -> None:
    with pytest.raises(ValueError, match="capacity must be at least 1"):
        build(policy, capacity, trace=[])


@pytest.mark.parametrize("capacity", [1.5, "10", None, True])
def test_a_capacity_that_is_not_an_int_is_a_type_error(policy: str, capacity: Any) -> None:
    with pytest.raises(TypeError, match="capacity must be an int"):
        build(policy, capacity, trace=[])


def test_an_entry_heavier_than_the_capacity_is_refused_and_changes_nothing(policy: str) -> None:
    cache, evicted = _recording(policy, 5, weigher=lambda _k, v: v)
    cache.put("a", 2)
    with pytest.raises(ValueError, match="more than the whole capacity 5"):
        cache.put("big", 6)
    with pytest.raises(ValueError, match="more than the whole capacity 5"):
        cache.put("a", 6)
    assert list(cache) == ["a"]
    assert cache.peek("a") == 2
    assert evicted == []


def test_a_negative_weight_is_a_value_error(policy: str) -> None:
    cache = build(policy, 5, weigher=lambda _k, _v: -1)
    with pytest.raises(ValueError, match="weigher returned -1"):
        cache.put("a", 1)
    assert len(cache) == 0


@pytest.mark.parametrize("weight", [1.0, "1", None, True])
def test_a_weight_that_is_not_an_int_is_a_type_error(policy: str, weight: Any) -> None:
    cache = build(policy, 5, weigher=lambda _k, _v: weight)
    with pytest.raises(TypeError, match="must return an int"):
        cache.put("a", 1)


def test_an_unknown_policy_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown cache policy 'nope'") as caught:
        make("nope", 10)
    for name in POLICIES:
        assert name in str(caught.value)


def test_policy_names_are_case_insensitive() -> None:
    assert make("LRU", 3).name == "lru"


def test_every_policy_reports_its_registered_name(policy: str) -> None:
    assert build(policy, 3, trace=[]).name == policy


# -- the offline bound ------------------------------------------------------------------


def _workloads() -> dict[str, list[int]]:
    zipf = zipf_like(3000, keys=300, seed=9)
    loop = [i % 40 for i in range(2000)]
    scans: list[int] = []
    for i in range(30):  # 50 skewed requests, then a scan of 60 keys never seen again
        scans += zipf[i * 50:(i + 1) * 50] + list(range(1000 + i * 60, 1060 + i * 60))
    return {"zipf": zipf, "loop": loop, "zipf_with_scans": scans}


@pytest.mark.parametrize("workload", ["zipf", "loop", "zipf_with_scans"])
def test_no_policy_hits_more_than_belady_opt(policy: str, workload: str) -> None:
    if "opt" not in POLICIES:
        pytest.skip("opt is not registered")
    requests = _workloads()[workload]
    opt = build("opt", 30, trace=requests)
    replay(opt, requests)
    cache = build(policy, 30, trace=requests)
    replay(cache, requests)
    assert cache.statistics().hits <= opt.statistics().hits
