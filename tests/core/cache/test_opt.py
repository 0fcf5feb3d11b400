"""Belady's OPT: known answers, an upper bound for every policy, replay discipline."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from hld.core.cache import POLICIES, Cache, make
from hld.core.cache.opt import STALE_HEAP_FACTOR, STALE_HEAP_SLACK, OPTCache, next_uses
from hld.lab import traces


def hits(cache: Cache[Any, Any], trace: list[Any]) -> int:
    for key in trace:
        if cache.get(key) is None:
            cache.put(key, key)
    return cache.statistics().hits


def test_next_uses_point_at_the_next_request_or_past_the_end() -> None:
    #           0    1    2    3    4
    trace = ["a", "b", "a", "c", "b"]
    assert next_uses(trace) == [2, 4, 5 + 2, 5 + 3, 5 + 4]


def test_evicts_the_key_used_farthest_in_the_future() -> None:
    # capacity 2: a b c -> c must go in; a is next used at 3, b at 6: b is evicted.
    trace = list("abcacab")
    evicted: list[str] = []
    cache: OPTCache[str, str] = OPTCache(2, trace=trace, on_evict=lambda k, _v: evicted.append(k))
    assert hits(cache, trace) == 3          # a (3), c (4), a (5)
    assert evicted[0] == "b"


def test_a_key_never_used_again_is_not_kept_over_useful_ones() -> None:
    trace = ["a", "b", "x", "a", "b"]
    cache: OPTCache[str, str] = OPTCache(2, trace=trace)
    assert hits(cache, trace) == 2
    assert "x" not in cache


def test_classic_belady_example() -> None:
    # The textbook reference string with 3 frames. Demand paging (every missed page must
    # be loaded) has 9 faults; a cache may decline an entry, and an exhaustive search over
    # every choice finds 8 misses at best, which OPT with bypass reaches.
    trace = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1]
    cache: OPTCache[int, int] = OPTCache(3, trace=trace)
    hits(cache, trace)
    assert cache.statistics().misses == 8


def test_a_request_off_the_trace_is_refused() -> None:
    cache: OPTCache[str, str] = OPTCache(2, trace=["a", "b"])
    cache.get("a")
    with pytest.raises(ValueError, match="expected 'b'"):
        cache.get("z")


def test_requests_past_the_end_are_refused() -> None:
    cache: OPTCache[str, str] = OPTCache(2, trace=["a"])
    cache.get("a")
    cache.put("a", "a")
    with pytest.raises(ValueError, match="only 1"):
        cache.get("a")


def test_put_only_replay_consumes_positions() -> None:
    trace = ["a", "b", "a"]
    cache: OPTCache[str, int] = OPTCache(1, trace=trace)
    cache.put("a", 1)
    cache.put("b", 2)     # b is never used again: a stays
    assert cache.position == 2
    assert cache.get("a") == 1


def test_the_heap_stays_proportional_to_the_capacity() -> None:
    trace = traces.zipf(20_000, 50, random.Random(1))
    cache: OPTCache[int, int] = OPTCache(10, trace=trace)
    hits(cache, trace)
    assert len(cache._heap) <= STALE_HEAP_FACTOR * 10 + STALE_HEAP_SLACK + 1


def test_weighted_capacity_is_respected() -> None:
    trace = [i % 7 for i in range(100)]
    cache: OPTCache[int, int] = OPTCache(6, trace=trace, weigher=lambda _k, v: 1 + v % 3)
    for key in trace:
        if cache.get(key) is None:
            cache.put(key, key)
        assert cache.weight <= 6


def _online(policy: str, capacity: int) -> Cache[Any, Any]:
    options: dict[str, Any] = {"rng": random.Random(7)} if policy == "random" else {}
    return make(policy, capacity, **options)


ONLINE = [name for name in POLICIES if name != "opt"]


@pytest.mark.parametrize("workload", list(traces.WORKLOADS))
def test_opt_is_an_upper_bound_on_every_builtin_workload(workload: str) -> None:
    trace = traces.workload(workload, 4_000, seed=3)
    for capacity in (50, 400):
        best = hits(OPTCache(capacity, trace=trace), trace)
        for policy in ONLINE:
            assert hits(_online(policy, capacity), trace) <= best, (policy, capacity)


def test_opt_is_an_upper_bound_on_a_real_trace(traces_dir: Path) -> None:
    trace = traces.read_cache2k(traces_dir / "cache2k_web07.trace.xz", limit=8_000)
    best = hits(OPTCache(300, trace=trace), trace)
    for policy in ONLINE:
        assert hits(_online(policy, 300), trace) <= best, policy
