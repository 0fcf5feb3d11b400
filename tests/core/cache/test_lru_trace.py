"""LRU on a real trace equals an independent, straightforward replay.

The trace is read here with ``lzma`` and ``struct`` directly (not through hld's trace
reader) so that nothing but the policy itself is under test.
"""

from __future__ import annotations

import lzma
import struct
from pathlib import Path

import pytest

from hld.core.cache import make

WEB07 = "cache2k_web07.trace.xz"
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


def _policy_hits(keys: tuple[int, ...], capacity: int) -> int:
    cache = make("lru", capacity)
    for key in keys:
        if cache.get(key) is None:
            cache.put(key, True)
    return cache.statistics().hits


@pytest.fixture(scope="module")
def web07(traces_dir: Path) -> tuple[int, ...]:
    path = traces_dir / WEB07
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return _keys(path)


def test_lru_hits_on_web07_equal_a_naive_replay(web07: tuple[int, ...]) -> None:
    keys = web07[:REQUESTS]
    expected = _naive_lru_hits(keys, CAPACITY)
    assert _policy_hits(keys, CAPACITY) == expected
    assert 0 < expected < REQUESTS


def test_lru_hit_ratio_on_all_of_web07_matches_the_published_figure(
        web07: tuple[int, ...]) -> None:
    """ANCHORS.md: an exact LRU replay of web07 at 300 entries hits 41.90%."""
    assert len(web07) == 76_118
    ratio_pct = 100 * _policy_hits(web07, CAPACITY) / len(web07)
    assert round(ratio_pct, 2) == 41.90
