"""Eviction under maxmemory: which key to drop when ``used`` passes the limit.

Redis' policies are approximated the way Redis approximates them, by sampling: a side
structure (a list of candidate keys with an index for O(1) removal, plus one metadata
int per key) exists only while a sampling policy is configured, so a server without
maxmemory pays nothing per key. ``victim()`` draws ``samples`` random candidates and
returns the best one: oldest access (lru), lowest logarithmic access counter with decay
(lfu, Redis' ``LFULogIncr``/``LFUDecrAndReturn`` scheme), nearest deadline (ttl) or the
first drawn (random). ``volatile-*`` policies only consider keys with a TTL.

``allkeys-slru``, ``allkeys-sieve`` and ``allkeys-wtinylfu`` delegate to
``hld.core.cache`` policies: the cache holds each key with its size as weight and
``maxmemory`` as capacity, so the policy's own ``put`` decides what leaves; its eviction
callback queues victims that the engine then deletes from the keyspace.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

POLICIES: Final = (
    "noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru",
    "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-slru", "allkeys-sieve",
    "allkeys-wtinylfu",
)
CACHE_POLICIES: Final = {"allkeys-slru": "slru", "allkeys-sieve": "sieve",
                         "allkeys-wtinylfu": "wtinylfu"}
SAMPLES_DEFAULT: Final = 5  # Redis' maxmemory-samples default
LFU_INIT_VAL: Final = 5  # new keys start here so they are not evicted at once
LFU_LOG_FACTOR: Final = 10
LFU_DECAY_MINUTES: Final = 1


class Rng(Protocol):
    def random(self) -> float: ...
    def randrange(self, stop: int, /) -> int: ...


class Evictor(Protocol):
    def added(self, key: bytes, size: int) -> None: ...
    def touched(self, key: bytes) -> None: ...
    def removed(self, key: bytes) -> None: ...
    def expire_changed(self, key: bytes, at_ms: int | None) -> None: ...
    def resized(self, key: bytes, size: int) -> None: ...
    def victim(self) -> bytes | None: ...


class SampledEvictor:
    """Redis' sampling approximation of LRU, LFU, random and TTL eviction."""

    def __init__(self, kind: str, *, volatile: bool, db: Any, rng: Rng,
                 samples: int = SAMPLES_DEFAULT) -> None:
        if kind not in ("lru", "lfu", "random", "ttl"):
            raise ValueError(f"unknown sampling kind {kind!r}")
        self.kind = kind
        self.volatile = volatile
        self.samples = samples
        self._db = db
        self._rng = rng
        self._keys: list[bytes] = []
        self._meta: list[int] = []
        self._index: dict[bytes, int] = {}
        for key in db.data:
            if not volatile or key in db.expires:
                self._add(key)

    def __len__(self) -> int:
        return len(self._keys)

    def _initial(self) -> int:
        if self.kind == "lfu":
            return (int(self._db.now_ms) // 60000 << 8) | LFU_INIT_VAL
        return int(self._db.now_ms)

    def _add(self, key: bytes) -> None:
        if key in self._index:
            return
        self._index[key] = len(self._keys)
        self._keys.append(key)
        self._meta.append(self._initial())

    def added(self, key: bytes, size: int) -> None:
        if not self.volatile:
            self._add(key)

    def resized(self, key: bytes, size: int) -> None:
        self.touched(key)

    def touched(self, key: bytes) -> None:
        i = self._index.get(key)
        if i is None:
            return
        if self.kind == "lru":
            self._meta[i] = int(self._db.now_ms)
        elif self.kind == "lfu":
            self._meta[i] = self._lfu_touch(self._meta[i])

    def _lfu_counter(self, meta: int) -> int:
        minutes_now = int(self._db.now_ms) // 60000
        elapsed = minutes_now - (meta >> 8)
        return max(0, (meta & 0xFF) - elapsed // LFU_DECAY_MINUTES)

    def _lfu_touch(self, meta: int) -> int:
        counter = self._lfu_counter(meta)
        if counter < 255:
            base = max(counter - LFU_INIT_VAL, 0)
            if self._rng.random() < 1.0 / (base * LFU_LOG_FACTOR + 1):
                counter += 1
        return (int(self._db.now_ms) // 60000 << 8) | counter

    def removed(self, key: bytes) -> None:
        i = self._index.pop(key, None)
        if i is None:
            return
        last_key = self._keys.pop()
        last_meta = self._meta.pop()
        if i < len(self._keys):
            self._keys[i] = last_key
            self._meta[i] = last_meta
            self._index[last_key] = i

    def expire_changed(self, key: bytes, at_ms: int | None) -> None:
        if not self.volatile:
            return
        if at_ms is None:
            self.removed(key)
        else:
            self._add(key)

    def victim(self) -> bytes | None:
        n = len(self._keys)
        if n == 0:
            return None
        best_key: bytes | None = None
        best_score = 0
        for _ in range(min(self.samples, n)):
            i = self._rng.randrange(n)
            key = self._keys[i]
            if self.kind == "random":
                return key
            if self.kind == "lru":
                score = self._meta[i]
            elif self.kind == "lfu":
                score = self._lfu_counter(self._meta[i])
            else:
                score = self._db.expires.get(key, 1 << 62)
            if best_key is None or score < best_score:
                best_key, best_score = key, score
        return best_key


class CachePolicyEvictor:
    """A ``hld.core.cache`` policy deciding evictions, weighted by key size in bytes."""

    def __init__(self, name: str, capacity_bytes: int, *, db: Any) -> None:
        from hld.core.cache import make

        self.pending: list[bytes] = []
        self._cache = make(name, max(capacity_bytes, 1), weigher=_weight,
                           on_evict=self._on_evict)
        self._capacity = max(capacity_bytes, 1)
        for key, value in db.data.items():
            self.added(key, 64 + len(key) + (len(value) if type(value) is bytes else 200))

    def _on_evict(self, key: bytes, size: int) -> None:
        del size
        self.pending.append(key)

    def added(self, key: bytes, size: int) -> None:
        self._cache.put(key, min(size, self._capacity))

    def resized(self, key: bytes, size: int) -> None:
        self._cache.put(key, min(size, self._capacity))

    def touched(self, key: bytes) -> None:
        self._cache.get(key)

    def removed(self, key: bytes) -> None:
        self._cache.delete(key)

    def expire_changed(self, key: bytes, at_ms: int | None) -> None:
        del key, at_ms

    def victim(self) -> bytes | None:
        if self.pending:
            return self.pending.pop(0)
        # Used memory counts more than the cache sees (TTLs, per-key overheads): the
        # policy's iteration order is its own business, so take its first key.
        for key in self._cache:
            self._cache.delete(key)
            return bytes(key)
        return None


def _weight(key: bytes, size: int) -> int:
    del key
    return size


def make_evictor(policy: str, maxmemory_bytes: int, *, db: Any, rng: Rng,
                 samples: int = SAMPLES_DEFAULT) -> Evictor | None:
    """The evictor for ``policy``, or None for noeviction."""
    if policy == "noeviction":
        return None
    if policy in CACHE_POLICIES:
        return CachePolicyEvictor(CACHE_POLICIES[policy], maxmemory_bytes, db=db)
    scope, _, kind = policy.partition("-")
    if scope not in ("allkeys", "volatile") or kind not in ("lru", "lfu", "random", "ttl") \
            or (scope == "allkeys" and kind == "ttl"):
        raise ValueError(f"unknown maxmemory policy {policy!r}")
    return SampledEvictor(kind, volatile=scope == "volatile", db=db, rng=rng, samples=samples)
