"""LRU on a real trace equals an independent, straightforward replay.

The trace is read here with ``lzma`` and ``struct`` directly (not through hld's trace
reader) so that nothing but the policy itself is under test. The published LRU figures
(ANCHORS.md) are pinned too, and the direction SIEVE and S3-FIFO claim over LRU: a SIEVE
that degenerates into FIFO or LFU loses to LRU on these traces (FIFO and LFU both do).
"""

from __future__ import annotations

import lzma
import struct
from pathlib import Path

import pytest

from hld.core.cache import make

WEB07 = "cache2k_web07.trace.xz"
WEB12 = "cache2k_web12.trace.xz"
# Exact LRU replays (ANCHORS.md): trace -> {entries: hit ratio %}.
LRU_HIT_RATIO_PCT = {
    WEB07: {300: 41.90, 1200: 51.65, 3000: 58.54},
    WEB12: {300: 49.01, 1200: 66.85, 3000: 76.48},
}
REQUESTS = 20_000
CAPACITY = 300


def _keys(path: Path) -> tuple[int, ...]:
    with lzma.open(path) as compressed:
        raw = compressed.read()
    return struct.unpack(f">{len(raw) // 4}i", raw)


def _naive_lru_hits(keys: tuple[int, ...], capacity: int) -> int:
    """LRU as a list, least recent first: as slow and as obvious as it gets."""
    order: list[int] = []
    hits = 0
    for key in keys:
        if key in order:
            hits += 1
            order.remove(key)
        elif len(order) == capacity:
            del order[0]
        order.append(key)
    return hits


def _policy_hits(keys: tuple[int, ...], capacity: int, policy: str = "lru") -> int:
    cache = make(policy, capacity)
    for key in keys:
        if cache.get(key) is None:
            cache.put(key, True)
    return cache.statistics().hits


_loaded: dict[str, tuple[int, ...]] = {}


def _trace(traces_dir: Path, name: str) -> tuple[int, ...]:
    if name not in _loaded:
        path = traces_dir / name
        if not path.is_file():
            pytest.skip(f"{path} not found")
        _loaded[name] = _keys(path)
    return _loaded[name]


@pytest.fixture(scope="module")
def web07(traces_dir: Path) -> tuple[int, ...]:
    return _trace(traces_dir, WEB07)


def test_lru_hits_on_web07_equal_a_naive_replay(web07: tuple[int, ...]) -> None:
    keys = web07[:REQUESTS]
    expected = _naive_lru_hits(keys, CAPACITY)
    assert _policy_hits(keys, CAPACITY) == expected
    assert 0 < expected < REQUESTS


@pytest.mark.parametrize(("trace", "entries"),
                         [(t, n) for t, sizes in LRU_HIT_RATIO_PCT.items() for n in sizes])
def test_lru_hit_ratio_on_a_whole_trace_matches_the_published_figure(
        traces_dir: Path, trace: str, entries: int) -> None:
    keys = _trace(traces_dir, trace)
    ratio_pct = 100 * _policy_hits(keys, entries) / len(keys)
    assert round(ratio_pct, 2) == LRU_HIT_RATIO_PCT[trace][entries]


def test_web07_has_the_documented_length(web07: tuple[int, ...]) -> None:
    assert len(web07) == 76_118


@pytest.mark.slow
@pytest.mark.parametrize("trace", [WEB07, WEB12])
def test_sieve_and_s3fifo_beat_lru_where_fifo_and_lfu_do_not(
        traces_dir: Path, trace: str) -> None:
    keys = _trace(traces_dir, trace)
    entries = 300  # the smallest suggested size, where the policies differ the most
    hits = {policy: _policy_hits(keys, entries, policy)
            for policy in ("lru", "sieve", "s3fifo", "fifo", "lfu")}
    assert hits["sieve"] > hits["lru"]
    assert hits["s3fifo"] > hits["lru"]
    assert hits["fifo"] < hits["lru"]
    assert hits["lfu"] < hits["lru"]
