"""Random eviction (RR) cache implementation.

The victim is drawn uniformly from the resident entries. Keys live in a list with a
key -> position index, so drawing is O(1) and removal swaps the last key into the hole.
Randomness comes from the caller: ``make("random", n, rng=random.Random(1))``; any object
with ``random() -> float in [0, 1)`` works. The victim's slot is ``int(rng.random() * n)``
rather than ``rng.randrange(n)`` because ``Random.random`` is one C call while
``randrange`` runs several Python frames, which would be most of the cost of a miss; the
bias is at most n / 2**53 (about 1e-10 for a million entries). Without an rng, a fixed-seed
SplitMix64 generator keeps replays reproducible (the core may not import ``random``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from hld.core.cache.base import Cache, EvictionListener, K, V, Weigher

_MASK64 = (1 << 64) - 1
_TWO_TO_MINUS_53 = 2.0 ** -53


class RandomSource(Protocol):
    """What the policy needs from ``random.Random``."""

    def random(self) -> float: ...


class SplitMix64:
    """Deterministic 64-bit generator (Steele, Lea and Flood's SplitMix64).

    Only a default for reproducible replays; pass ``random.Random(seed)`` in real use.
    """

    def __init__(self, seed: int = 0) -> None:
        self._state = seed & _MASK64

    def next_u64(self) -> int:
        self._state = (self._state + 0x9E3779B97F4A7C15) & _MASK64
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def random(self) -> float:
        """A float in [0, 1) from the top 53 bits, as ``random.Random.random``."""
        return (self.next_u64() >> 11) * _TWO_TO_MINUS_53


class RandomCache(Cache[K, V]):
    """Random Replacement (RR) cache implementation."""

    name = "random"

    def __init__(self, capacity: int, *, rng: RandomSource | None = None,
                 weigher: Weigher[K, V] | None = None,
                 on_evict: EvictionListener[K, V] | None = None) -> None:
        super().__init__(capacity, weigher=weigher, on_evict=on_evict)
        if rng is not None and not callable(getattr(rng, "random", None)):
            raise TypeError(f"rng must have random() (as random.Random), "
                            f"got {type(rng).__name__}")
        self._rng: RandomSource = rng if rng is not None else SplitMix64()
        self._data: dict[K, V] = {}
        self._weights: dict[K, int] = {}
        self._keys: list[K] = []
        self._slot: dict[K, int] = {}

    def get(self, key: K, default: V | None = None) -> V | None:
        data = self._data
        if key in data:
            self._hits += 1
            return data[key]
        self._misses += 1
        return default

    def peek(self, key: K, default: V | None = None) -> V | None:
        return self._data.get(key, default)

    def put(self, key: K, value: V) -> None:
        data = self._data
        weight = 1 if self._weigher is None else self._weigh(key, value)
        if key in data:
            if self._weights.get(key, 1) == weight:
                data[key] = value
                return
            self.delete(key)
        keys = self._keys
        slots = self._slot
        if self._weight + weight > self._capacity:
            random = self._rng.random
            while self._weight + weight > self._capacity:
                # _remove() inlined, as this runs on nearly every miss of a full cache.
                count = len(keys)
                slot = int(random() * count)
                victim = keys[slot]
                last = keys.pop()
                if slot < count - 1:
                    keys[slot] = last
                    slots[last] = slot
                del slots[victim]
                old_value = data.pop(victim)
                self._weight -= self._weights.pop(victim, 1) if self._weights else 1
                self._evicted(victim, old_value)
        data[key] = value
        slots[key] = len(keys)
        keys.append(key)
        if self._weigher is not None:
            self._weights[key] = weight
        self._weight += weight

    def _remove(self, key: K) -> None:
        keys = self._keys
        slot = self._slot.pop(key)
        last = keys.pop()
        if slot < len(keys):  # the removed key was not the last: fill its hole
            keys[slot] = last
            self._slot[last] = slot
        del self._data[key]
        self._weight -= self._weights.pop(key, 1)

    def delete(self, key: K) -> bool:
        if key not in self._data:
            return False
        self._remove(key)
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._data))
