"""CLOCK (second chance) cache implementation.

Entries sit on a circle with a hand. A hit sets the entry's reference bit and nothing
else. To evict, the hand looks at the entry under it: a set bit is cleared and the hand
moves on (the entry gets a second chance); a clear bit makes that entry the victim. A
new entry takes the victim's place on the circle, just behind the hand, with its bit
clear, so it is the last one the hand will look at.

The circle is an ``OrderedDict`` read from the hand: its first key is the entry under the
hand, and its last key the one just behind it. Moving the hand past an entry is
re-appending that entry (``popitem(last=False)`` then set, both O(1) in C); inserting just
behind the hand is appending. That is the same sequence of decisions as an array with a
moving index, without holes to manage when entries are deleted or weigh differently.
Each entry is a ``[value, referenced]`` list so a hit costs one dict lookup.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from hld.core.cache.base import Cache, EvictionListener, K, V, Weigher

_VALUE = 0
_REFERENCED = 1


class ClockCache(Cache[K, V]):
    """CLOCK (second chance) cache implementation."""

    name = "clock"

    def __init__(self, capacity: int, *, weigher: Weigher[K, V] | None = None,
                 on_evict: EvictionListener[K, V] | None = None) -> None:
        super().__init__(capacity, weigher=weigher, on_evict=on_evict)
        # key -> [value, referenced]; the first key is under the hand.
        self._circle: OrderedDict[K, list[Any]] = OrderedDict()
        self._weights: dict[K, int] = {}

    def get(self, key: K, default: V | None = None) -> V | None:
        entry = self._circle.get(key)
        if entry is None:
            self._misses += 1
            return default
        entry[_REFERENCED] = True
        self._hits += 1
        value: V = entry[_VALUE]
        return value

    def peek(self, key: K, default: V | None = None) -> V | None:
        entry = self._circle.get(key)
        if entry is None:
            return default
        value: V = entry[_VALUE]
        return value

    def put(self, key: K, value: V) -> None:
        circle = self._circle
        weight = 1 if self._weigher is None else self._weigh(key, value)
        entry = circle.get(key)
        if entry is not None:
            if self._weights.get(key, 1) == weight:
                entry[_VALUE] = value
                entry[_REFERENCED] = True
                return
            self.delete(key)
        while self._weight + weight > self._capacity:
            self._evict_one()
        circle[key] = [value, False]
        if self._weigher is not None:
            self._weights[key] = weight
        self._weight += weight

    def _evict_one(self) -> None:
        circle = self._circle
        popitem = circle.popitem
        while True:
            key, entry = popitem(last=False)
            if entry[_REFERENCED]:
                entry[_REFERENCED] = False
                circle[key] = entry  # the hand moves past it
                continue
            self._weight -= self._weights.pop(key, 1)
            self._evicted(key, entry[_VALUE])
            return

    def delete(self, key: K) -> bool:
        if self._circle.pop(key, None) is None:
            return False
        self._weight -= self._weights.pop(key, 1)
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._circle

    def __len__(self) -> int:
        return len(self._circle)

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._circle))
