"""Least Frequently Used (LFU) cache implementation, O(1) per operation.

The structure of Shah, Mitra and Matani ("An O(1) algorithm for implementing the LFU
cache eviction scheme", 2010): a doubly linked list of frequency nodes in increasing
order, each holding the keys used exactly that many times. A use moves a key from its
node to the next one (creating it if the next frequency is absent, unlinking the old node
if it empties); the victim comes from the first node. Every step is O(1), unlike a heap.
A key alone at its count whose next count is absent keeps its node and bumps the node's
count instead: the hottest keys do that on every hit, and it saves an allocation.

Ties: within one frequency the keys are kept in an ``OrderedDict`` in the order they
reached that frequency, which is the order of their last use, and the victim is the
oldest of them, so ties are broken by LRU. Counts belong to resident entries only: an
evicted or deleted key starts again at 1 (no aging, no history: that is W-TinyLFU's job).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from hld.core.cache.base import Cache, EvictionListener, K, V, Weigher

# Frequency node layout: [previous (lower) node, next (higher) node, frequency, keys].
_PREV = 0
_NEXT = 1
_FREQ = 2
_KEYS = 3
# Entry layout: [value, frequency node].
_VALUE = 0
_NODE = 1


class LFUCache(Cache[K, V]):
    """Least Frequently Used (LFU) cache implementation."""

    name = "lfu"

    def __init__(self, capacity: int, *, weigher: Weigher[K, V] | None = None,
                 on_evict: EvictionListener[K, V] | None = None) -> None:
        super().__init__(capacity, weigher=weigher, on_evict=on_evict)
        self._entries: dict[K, list[Any]] = {}
        self._weights: dict[K, int] = {}
        # Sentinel of frequency 0: its _NEXT is the lowest frequency present.
        root: list[Any] = [None, None, 0, None]
        root[_PREV] = root[_NEXT] = root
        self._root = root

    def get(self, key: K, default: V | None = None) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            self._misses += 1
            return default
        self._hits += 1
        # _use() inlined: a hit is the commonest operation.
        node = entry[_NODE]
        higher = node[_NEXT]
        frequency = node[_FREQ] + 1
        if higher[_FREQ] != frequency:
            if len(node[_KEYS]) == 1:
                # Alone at its count (typical of the hottest keys): the node itself moves
                # up one; order holds because the next node counts at least two more.
                node[_FREQ] = frequency
                alone: V = entry[_VALUE]
                return alone
            higher = [node, higher, frequency, OrderedDict()]
            node[_NEXT][_PREV] = higher
            node[_NEXT] = higher
        keys = node[_KEYS]
        del keys[key]
        if not keys:
            node[_PREV][_NEXT] = higher
            higher[_PREV] = node[_PREV]
        higher[_KEYS][key] = None
        entry[_NODE] = higher
        value: V = entry[_VALUE]
        return value

    def _use(self, key: K, entry: list[Any]) -> None:
        node = entry[_NODE]
        higher = node[_NEXT]
        frequency = node[_FREQ] + 1
        if higher[_FREQ] != frequency:  # the root's 0 never equals a use count
            if len(node[_KEYS]) == 1:  # alone at its count: move the node itself up
                node[_FREQ] = frequency
                return
            higher = [node, higher, frequency, OrderedDict()]
            node[_NEXT][_PREV] = higher
            node[_NEXT] = higher
        keys = node[_KEYS]
        del keys[key]
        if not keys:
            self._unlink(node)
        higher[_KEYS][key] = None
        entry[_NODE] = higher

    @staticmethod
    def _unlink(node: list[Any]) -> None:
        node[_PREV][_NEXT] = node[_NEXT]
        node[_NEXT][_PREV] = node[_PREV]

    def peek(self, key: K, default: V | None = None) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return default
        value: V = entry[_VALUE]
        return value

    def put(self, key: K, value: V) -> None:
        entries = self._entries
        weight = 1 if self._weigher is None else self._weigh(key, value)
        entry = entries.get(key)
        if entry is not None:
            if self._weights.get(key, 1) == weight:
                entry[_VALUE] = value
                self._use(key, entry)
                return
            self.delete(key)
        while self._weight + weight > self._capacity:
            self._evict_one()
        root = self._root
        lowest = root[_NEXT]
        if lowest[_FREQ] != 1:
            lowest = [root, lowest, 1, OrderedDict()]
            root[_NEXT][_PREV] = lowest
            root[_NEXT] = lowest
        lowest[_KEYS][key] = None
        entries[key] = [value, lowest]
        if self._weigher is not None:
            self._weights[key] = weight
        self._weight += weight

    def _evict_one(self) -> None:
        lowest = self._root[_NEXT]
        keys = lowest[_KEYS]
        key, _ = keys.popitem(last=False)
        if not keys:
            self._unlink(lowest)
        entry = self._entries.pop(key)
        self._weight -= self._weights.pop(key, 1)
        self._evicted(key, entry[_VALUE])

    def frequency(self, key: K) -> int:
        """How many times the resident ``key`` was used (0 if absent); for tests and tools."""
        entry = self._entries.get(key)
        return 0 if entry is None else int(entry[_NODE][_FREQ])

    def delete(self, key: K) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        node = entry[_NODE]
        keys = node[_KEYS]
        del keys[key]
        if not keys:
            self._unlink(node)
        self._weight -= self._weights.pop(key, 1)
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._entries))
