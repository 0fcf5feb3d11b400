"""W-TinyLFU: scan resistance, frequency-based admission, the adaptive window."""

from __future__ import annotations

import random
from typing import Any

import pytest

from hld.core.cache import make
from hld.core.cache.wtinylfu import WTinyLFUCache
from hld.lab.traces import zipf
from tests.core.cache.support import replay


def test_a_one_off_scan_does_not_flush_the_hot_set() -> None:
    hot = list(range(50))
    scan = list(range(1_000, 3_000))
    lru = make("lru", 100)
    tinylfu = make("wtinylfu", 100)
    for cache in (lru, tinylfu):
        replay(cache, hot * 20)
        replay(cache, scan)
    assert sum(key in lru for key in hot) == 0
    assert sum(key in tinylfu for key in hot) >= 45


def test_a_frequent_newcomer_displaces_a_rarely_used_entry() -> None:
    cache: WTinyLFUCache[int, int] = WTinyLFUCache(100, adaptive=False)
    replay(cache, list(range(100)))           # main fills with keys used once
    for _ in range(5):                        # 500 is asked for often but never kept ...
        cache.get(500)
        cache.sketch.increment(500)
    cache.put(500, 500)
    replay(cache, [1_000, 1_001])             # ... pushes it out of the window as candidate
    assert 500 in cache


def test_a_newcomer_used_once_does_not_displace_a_frequent_entry() -> None:
    cache: WTinyLFUCache[int, int] = WTinyLFUCache(20, adaptive=False)
    frequent = list(range(19))
    replay(cache, frequent * 10)
    replay(cache, list(range(100, 140)))      # one-off keys, one after another
    assert all(key in cache for key in frequent)


def test_hits_count_toward_admission_before_they_reach_the_sketch() -> None:
    cache: WTinyLFUCache[int, int] = WTinyLFUCache(100, adaptive=False, doorkeeper=False)
    replay(cache, list(range(100)))
    cache.put(700, 700)
    for _ in range(6):
        assert cache.get(700) == 700          # tallied on the entry, not yet in the sketch
    replay(cache, [1_000])                    # 700 leaves the window and must win its place
    assert 700 in cache


def test_regions_partition_the_keys_and_respect_their_shares() -> None:
    cache: WTinyLFUCache[int, int] = WTinyLFUCache(200, adaptive=False)
    replay(cache, zipf(5_000, 1_000, random.Random(2)))
    regions = cache.regions()
    keys = regions["window"] + regions["probation"] + regions["protected"]
    assert sorted(keys) == sorted(cache)
    assert len(regions["window"]) <= cache.window_capacity == 2
    assert len(regions["protected"]) <= int(0.8 * (200 - 2))


def test_replays_are_deterministic() -> None:
    trace = zipf(20_000, 2_000, random.Random(5))
    first, second = make("wtinylfu", 300), make("wtinylfu", 300)
    replay(first, trace)
    replay(second, trace)
    assert first.statistics() == second.statistics()
    assert list(first) == list(second)


def test_beats_lru_on_zipf() -> None:
    trace = zipf(30_000, 5_000, random.Random(8))
    results = {}
    for policy in ("lru", "wtinylfu"):
        cache = make(policy, 250)
        replay(cache, trace)
        results[policy] = cache.statistics().hit_ratio
    assert results["wtinylfu"] > results["lru"] + 0.03


def _bursts(requests: int, rng: random.Random) -> list[int]:
    """Each key is used a few times in a short burst and then never again: all recency."""
    trace: list[int] = []
    key = 0
    live: list[int] = []
    while len(trace) < requests:
        live.append(key)
        key += 1
        if len(live) > 400:
            live.pop(0)
        trace.append(rng.choice(live))
    return trace


@pytest.mark.parametrize("adapt_by", ["ghosts", "climbing"])
def test_the_window_grows_when_recency_pays(adapt_by: str) -> None:
    cache: WTinyLFUCache[int, int] = WTinyLFUCache(200, adapt_by=adapt_by)
    start = cache.window_capacity
    replay(cache, _bursts(40_000, random.Random(4)))
    assert cache.window_capacity > start


def test_a_fixed_window_stays_fixed() -> None:
    cache: WTinyLFUCache[int, int] = WTinyLFUCache(200, adaptive=False, window_share=0.1)
    replay(cache, _bursts(20_000, random.Random(4)))
    assert cache.window_capacity == 20


def test_on_evict_sees_every_entry_that_leaves() -> None:
    evicted: list[tuple[Any, Any]] = []
    cache: WTinyLFUCache[int, int] = WTinyLFUCache(10, on_evict=lambda k, v: evicted.append(
        (k, v)))
    replay(cache, list(range(100)))
    assert len(evicted) == 90 == cache.statistics().evictions
    assert set(cache) | {k for k, _ in evicted} == set(range(100))


def test_capacity_one_works() -> None:
    cache = make("wtinylfu", 1)
    replay(cache, [1, 2, 1, 1, 3])
    assert len(cache) == 1


def test_the_window_stays_small_when_frequency_pays() -> None:
    cache: WTinyLFUCache[int, int] = WTinyLFUCache(200)
    replay(cache, zipf(40_000, 5_000, random.Random(6)))
    assert cache.window_capacity <= 20


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="window_share"):
        WTinyLFUCache(10, window_share=1.5)
    with pytest.raises(ValueError, match="adapt_by"):
        WTinyLFUCache(10, adapt_by="guessing")


@pytest.mark.parametrize("adapt_by", ["ghosts", "climbing"])
def test_weighted_capacity_holds_while_the_window_adapts(adapt_by: str) -> None:
    rng = random.Random(11)
    cache: WTinyLFUCache[int, int] = WTinyLFUCache(
        60, weigher=lambda _k, v: v, adapt_by=adapt_by)
    for _ in range(30_000):
        key = min(int(rng.paretovariate(1.0)), 400)
        if cache.get(key) is None:
            cache.put(key, 1 + key % 4)
        assert cache.weight <= 60
    assert sum(cache.peek(k) or 0 for k in cache) == cache.weight
