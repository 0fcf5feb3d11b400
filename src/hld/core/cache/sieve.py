"""SIEVE cache implementation (Zhang et al., "SIEVE is Simpler than LRU", NSDI '24).

One queue, ordered by insertion: new entries enter at the head. Each entry has one
"visited" bit; a hit sets it and moves nothing. A hand walks from the tail toward the
head: a visited entry has its bit cleared and stays where it is; the first unvisited
entry is the victim. The hand stays where the victim was (on the victim's neighbour
toward the head) until the next eviction, and wraps to the tail after passing the head.

Two details make it SIEVE rather than something cheaper-looking: the hand persists
between evictions (restarting it at the tail every time turns the policy into FIFO with
reinsertion and biases it toward old entries), and survivors are not moved (moving them to
the head is CLOCK). Entries that are retained simply stay behind the hand, so new entries,
which sit ahead of it, are examined soon — the "quick demotion" the paper credits.

The queue is a circular doubly linked list of small Python lists (nodes) around a
sentinel; a dict maps keys to nodes, so a hit is one dict lookup and one list store.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hld.core.cache.base import Cache, EvictionListener, K, V, Weigher

# Node layout: [toward_head, toward_tail, key, value, visited]. A list, not an object with
# slots: index access is the cheapest attribute-like access CPython has.
_NEWER = 0
_OLDER = 1
_KEY = 2
_VALUE = 3
_VISITED = 4


class SieveCache(Cache[K, V]):
    """SIEVE cache implementation."""

    name = "sieve"

    def __init__(self, capacity: int, *, weigher: Weigher[K, V] | None = None,
                 on_evict: EvictionListener[K, V] | None = None) -> None:
        super().__init__(capacity, weigher=weigher, on_evict=on_evict)
        self._nodes: dict[K, list[Any]] = {}
        self._weights: dict[K, int] = {}
        # Sentinel: its _OLDER is the head (newest entry), its _NEWER the tail (oldest).
        root: list[Any] = [None, None, None, None, False]
        root[_NEWER] = root[_OLDER] = root
        self._root = root
        # The node the next eviction looks at first; the root means "start at the tail".
        self._hand: list[Any] = root

    def get(self, key: K, default: V | None = None) -> V | None:
        node = self._nodes.get(key)
        if node is None:
            self._misses += 1
            return default
        node[_VISITED] = True
        self._hits += 1
        value: V = node[_VALUE]
        return value

    def peek(self, key: K, default: V | None = None) -> V | None:
        node = self._nodes.get(key)
        if node is None:
            return default
        value: V = node[_VALUE]
        return value

    def put(self, key: K, value: V) -> None:
        nodes = self._nodes
        weight = 1 if self._weigher is None else self._weigh(key, value)
        node = nodes.get(key)
        if node is not None:
            if self._weights.get(key, 1) == weight:
                node[_VALUE] = value
                node[_VISITED] = True
                return
            self.delete(key)
        while self._weight + weight > self._capacity:
            self._evict_one()
        root = self._root
        head = root[_OLDER]
        node = [root, head, key, value, False]
        head[_NEWER] = node
        root[_OLDER] = node
        nodes[key] = node
        if self._weigher is not None:
            self._weights[key] = weight
        self._weight += weight

    def _evict_one(self) -> None:
        root = self._root
        node = self._hand
        if node is root:
            node = root[_NEWER]  # the tail
        while node[_VISITED]:
            node[_VISITED] = False
            node = node[_NEWER]
            if node is root:  # passed the head: wrap to the tail
                node = root[_NEWER]
        # The hand stays where the victim was: on its neighbour toward the head.
        self._hand = node[_NEWER]
        self._unlink(node)
        key = node[_KEY]
        self._weight -= self._weights.pop(key, 1)
        self._evicted(key, node[_VALUE])

    def _unlink(self, node: list[Any]) -> None:
        newer = node[_NEWER]
        older = node[_OLDER]
        newer[_OLDER] = older
        older[_NEWER] = newer
        del self._nodes[node[_KEY]]

    def delete(self, key: K) -> bool:
        node = self._nodes.get(key)
        if node is None:
            return False
        if self._hand is node:
            self._hand = node[_NEWER]
        self._unlink(node)
        self._weight -= self._weights.pop(key, 1)
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._nodes))
