"""The keyspace: one dict of values, one dict of expiry times, and their bookkeeping.

Representation (what a snapshot serialises; ``items()`` yields it, ``restore()`` takes it):

=============  ==========================================================
Redis type     Python value stored in ``Keyspace.data[key]``
=============  ==========================================================
string         ``bytes`` (stored directly: no wrapper object per key)
hash           ``dict[bytes, bytes]``
list           ``collections.deque[bytes]``
set            ``set[bytes]``
zset           ``hld.core.kv.zset.ZSet`` (``items()`` -> (member, score); ``ZSet.from_items``)
string (HLL)   ``hld.core.kv.hll.HyperLogLog`` (``to_bytes()``/``from_bytes``); TYPE says string
stream         the streams module's class, registered in ``TYPE_NAMES`` by that module
=============  ==========================================================

Expiry times live in ``expires`` (absolute Unix time in milliseconds) for volatile keys
only, so a key without a TTL costs one dict slot. Time is passed in: the shell sets
``now_ms`` before each batch of commands (``set_time``). Expiry is lazy (every lookup
checks) plus active: a heap of (deadline, key) lets ``active_expire`` remove what is due
without scanning; stale heap entries (TTL changed or removed) are skipped when popped and
the heap is rebuilt when it grows past twice the volatile keys.

Every change goes through a method here so that four things stay right without the
handlers thinking about them: ``used`` (approximate bytes, see ``memory``), ``dirty``
(a change counter: the engine propagates a write command only if it changed something),
WATCH (clients watching a changed key are flagged), and blocking (a key that gained
elements, was overwritten or was removed while clients wait on it is queued in ``ready``
for the shell to serve: the parked command re-runs and decides).

RANDOMKEY draws from a key list kept only while it is used (``hld.core.kv.sample``), as
SCAN walks an index kept only while clients scan (``hld.core.kv.scan``); new keys are
appended to both, deleted ones skipped when read.

Deletions caused by expiry or eviction are propagated as ``DEL key`` to the write
listeners (AOF, replication), as Redis does, so replicas and the AOF never expire keys
on their own clocks.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Final, Protocol

from hld.core.kv import memory
from hld.core.kv.memory import EXPIRE_BYTES_OVERHEAD, KEY_BYTES_OVERHEAD, value_size
from hld.core.kv.sample import SAMPLE_IDLE_MS, STALE_DRAWS_MAX, KeySample, Rng
from hld.core.kv.scan import INDEX_IDLE_MS, ScanIndex

# Python type of a value -> the name TYPE, SCAN TYPE and snapshots use. Modules adding a
# value type (streams) add their class here.
TYPE_NAMES: dict[type, bytes] = {
    bytes: b"string", dict: b"hash", deque: b"list", set: b"set",
}

WriteListener = Callable[[list[bytes]], None]

# RANDOMKEY on a replica (which does not remove expired keys itself): logically expired
# keys drawn before one is returned anyway (Redis' dbRandomKey does the same, with 100).
RANDOM_EXPIRED_DRAWS_MAX: Final = 100


class AccessTracker(Protocol):
    """What an eviction policy learns about keys (``hld.core.kv.evict``)."""

    def added(self, key: bytes, size: int) -> None: ...
    def touched(self, key: bytes) -> None: ...
    def removed(self, key: bytes) -> None: ...
    def expire_changed(self, key: bytes, at_ms: int | None) -> None: ...
    def resized(self, key: bytes, size: int) -> None: ...


class WatchFlag(Protocol):
    dirty_cas: bool


class Keyspace:
    """Database 0: values, expiry, accounting, and the signals the engine needs."""

    def __init__(self) -> None:
        self.data: dict[bytes, Any] = {}
        self.expires: dict[bytes, int] = {}
        self._heap: list[tuple[int, bytes]] = []
        # Sizes of non-string values, kept so a delete never walks a big container.
        self._sizes: dict[bytes, int] = {}
        self.now_ms = 0
        self.used = 0
        self.dirty = 0
        self.hits = 0
        self.misses = 0
        self.expired_keys = 0
        self.evicted_keys = 0
        self.watchers: dict[bytes, set[WatchFlag]] = {}
        self.blocking: dict[bytes, int] = {}  # key -> number of clients parked on it
        self.ready: list[bytes] = []
        self.listeners: list[WriteListener] = []
        self.tracker: AccessTracker | None = None
        # A replica must not expire keys on its own: its primary sends DEL. Lookups still
        # hide logically expired keys, as Redis replicas do.
        self.expire_enabled = True
        # Keys grouped for SCAN (``hld.core.kv.scan``), built by the first SCAN.
        self._scan_index: ScanIndex | None = None
        self._scan_used_ms = 0
        # Keys in a list for RANDOMKEY (``hld.core.kv.sample``), built by the first one.
        self._sample: KeySample | None = None
        self._sample_used_ms = 0

    # -- time --------------------------------------------------------------------

    def set_time(self, now: float) -> None:
        """The wall clock, Unix seconds (TTLs are absolute Unix times in Redis)."""
        self.now_ms = int(now * 1000)

    # -- reads -------------------------------------------------------------------

    def get(self, key: bytes) -> Any:
        """The live value of ``key`` or None; counts a keyspace hit or miss."""
        value = self.data.get(key)
        if value is not None and self.expires and key in self.expires \
                and self.expires[key] <= self.now_ms:
            self._expire(key)
            value = None
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        if self.tracker is not None:
            self.tracker.touched(key)
        return value

    def peek(self, key: bytes) -> Any:
        """The live value of ``key`` or None, without statistics (write paths)."""
        value = self.data.get(key)
        if value is not None and self.expires and key in self.expires \
                and self.expires[key] <= self.now_ms:
            self._expire(key)
            return None
        return value

    def __contains__(self, key: bytes) -> bool:
        return self.peek(key) is not None

    def __len__(self) -> int:
        return len(self.data)

    def ttl_ms(self, key: bytes) -> int | None:
        """Milliseconds left for a volatile key, None for a key without TTL."""
        at = self.expires.get(key)
        return None if at is None else at - self.now_ms

    def type_name(self, value: Any) -> bytes:
        return TYPE_NAMES.get(type(value), b"string")

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """One SCAN step: (next cursor, keys); keys present throughout are all returned.

        Keys may be logically expired; the caller filters them as it filters MATCH.
        """
        index = self._scan_index
        if index is None or index.entries > 2 * len(self.data) + 64:
            # First scan, or the index filled up (new keys) or went stale (deletes):
            # regroup the live keys; the cursor stays valid across the new table size.
            index = self._scan_index = ScanIndex(self.data, len(self.data))
        self._scan_used_ms = self.now_ms
        return index.scan(self.data, cursor, count)

    def random_key(self, rng: Rng) -> bytes | None:
        """A random live key, or None when there is none (RANDOMKEY).

        Expired keys drawn are removed on the way, as Redis does (a replica, which
        cannot remove them, returns one after ``RANDOM_EXPIRED_DRAWS_MAX`` draws).
        """
        data = self.data
        sample = self._sample
        if sample is None or sample.needs_rebuild(len(data)):
            sample = self._sample = KeySample(data)
        self._sample_used_ms = self.now_ms
        stale = expired = 0
        while data:
            key = sample.draw(rng)
            if key not in data:
                stale += 1
                if stale >= STALE_DRAWS_MAX:
                    sample = self._sample = KeySample(data)
                    stale = 0
                continue
            if self.peek(key) is not None:
                return key
            expired += 1  # on a primary peek removed it: the keyspace shrank
            if not self.expire_enabled and expired >= RANDOM_EXPIRED_DRAWS_MAX:
                return key
        return None

    # -- writes ------------------------------------------------------------------

    def set(self, key: bytes, value: Any, *, keep_ttl: bool = False) -> None:
        """Create or replace ``key``; its TTL is dropped unless ``keep_ttl``."""
        data = self.data
        old = data.get(key)
        if type(value) is bytes:
            size = 33 + len(value)
        else:
            size = value_size(value)
            self._sizes[key] = size
        if old is None:
            self.used += KEY_BYTES_OVERHEAD + len(key) + size
            data[key] = value
            if self.tracker is not None:
                self.tracker.added(key, KEY_BYTES_OVERHEAD + len(key) + size)
            if self._scan_index is not None and not self._scan_index.add(key):
                self._scan_index = None
            if self._sample is not None:
                self._sample.add(key)
        else:
            if type(old) is bytes:
                self.used += size - 33 - len(old)
            else:
                self.used += size - self._sizes.pop(key, memory.CONTAINER_BYTES_OVERHEAD)
                if type(value) is not bytes:
                    self._sizes[key] = size
            data[key] = value
            if self.expires and not keep_ttl and key in self.expires:
                self._drop_expire(key)
            if self.tracker is not None:
                self.tracker.resized(key, KEY_BYTES_OVERHEAD + len(key) + size)
        self.dirty += 1
        if self.watchers:
            self._touch_watchers(key)
        if self.blocking and key in self.blocking:
            self.ready.append(key)

    def set_string(self, key: bytes, value: bytes) -> None:
        """Plain SET: ``set`` for a bytes value, without its general cases (hot path)."""
        data = self.data
        old = data.get(key)
        if old is None:
            self.used += KEY_BYTES_OVERHEAD + 33 + len(key) + len(value)
            data[key] = value
            if self.tracker is not None:
                self.tracker.added(key, KEY_BYTES_OVERHEAD + 33 + len(key) + len(value))
            if self._scan_index is not None and not self._scan_index.add(key):
                self._scan_index = None
            if self._sample is not None:
                self._sample.add(key)
        elif type(old) is bytes:
            self.used += len(value) - len(old)
            data[key] = value
            if self.expires and key in self.expires:
                self._drop_expire(key)
            if self.tracker is not None:
                self.tracker.resized(key, KEY_BYTES_OVERHEAD + 33 + len(key) + len(value))
        else:
            self.set(key, value)
            return
        self.dirty += 1
        if self.watchers:
            self._touch_watchers(key)
        if self.blocking and key in self.blocking:
            self.ready.append(key)

    def grew(self, key: bytes, delta_bytes: int) -> None:
        """A container value changed in place; ``delta_bytes`` is its size change."""
        self.used += delta_bytes
        self._sizes[key] = self._sizes.get(key, memory.CONTAINER_BYTES_OVERHEAD) + delta_bytes
        self.dirty += 1
        if self.watchers:
            self._touch_watchers(key)
        if self.tracker is not None:
            self.tracker.resized(key, KEY_BYTES_OVERHEAD + len(key) + self._sizes[key])

    def pushed(self, key: bytes) -> None:
        """Elements arrived at ``key``: wake clients blocked on it (lists, streams)."""
        if self.blocking and key in self.blocking and key not in self.ready[-1:]:
            self.ready.append(key)

    def delete(self, key: bytes) -> bool:
        """Remove ``key``; True if it existed (an expired key does not count)."""
        if self.peek(key) is None:
            return False
        self._remove(key)
        self.dirty += 1
        if self.watchers:
            self._touch_watchers(key)
        return True

    def set_expire(self, key: bytes, at_ms: int) -> None:
        """Make an existing key volatile, deadline ``at_ms`` (Unix ms)."""
        if key not in self.expires:
            self.used += EXPIRE_BYTES_OVERHEAD
        self.expires[key] = at_ms
        heapq.heappush(self._heap, (at_ms, key))
        if len(self._heap) > 2 * len(self.expires) + 1024:
            self._heap = [(t, k) for k, t in self.expires.items()]
            heapq.heapify(self._heap)
        self.dirty += 1
        if self.watchers:
            self._touch_watchers(key)
        if self.tracker is not None:
            self.tracker.expire_changed(key, at_ms)

    def persist(self, key: bytes) -> bool:
        """Remove the TTL of ``key``; True if it had one."""
        if key not in self.expires:
            return False
        self._drop_expire(key)
        self.dirty += 1
        if self.watchers:
            self._touch_watchers(key)
        return True

    def flush(self) -> int:
        """Remove every key; returns how many there were."""
        n = len(self.data)
        keys = list(self.watchers) if self.watchers else []
        if self.tracker is not None:
            for key in self.data:
                self.tracker.removed(key)
        self.data = {}
        self.expires = {}
        self.ready.extend(self.blocking)  # parked readers learn their keys went away
        self._scan_index = None
        self._sample = None
        self._heap = []
        self._sizes = {}
        self.used = 0
        self.dirty += n  # one change per key removed, none for an empty keyspace (Redis)
        for key in keys:
            self._touch_watchers(key)
        return n

    def rename(self, src: bytes, dst: bytes) -> None:
        """Move ``src`` (present) to ``dst``, carrying its TTL."""
        value = self.data[src]
        at = self.expires.get(src)
        self._remove(src)
        if dst in self.data:
            self._remove(dst)
        self.set(dst, value)
        if at is not None:
            self.set_expire(dst, at)
        if self.watchers:
            self._touch_watchers(src)

    # -- expiry and eviction -----------------------------------------------------

    def active_expire(self, budget: int) -> int:
        """Remove up to ``budget`` keys whose deadline has passed; returns how many."""
        if self._scan_index is not None and self.now_ms - self._scan_used_ms > INDEX_IDLE_MS:
            self._scan_index = None  # nobody is scanning: give its memory back
        if self._sample is not None and self.now_ms - self._sample_used_ms > SAMPLE_IDLE_MS:
            self._sample = None  # nobody asks for random keys: give its memory back
        if not self.expire_enabled:
            return 0
        heap, expires, now = self._heap, self.expires, self.now_ms
        removed = 0
        while heap and removed < budget and heap[0][0] <= now:
            at, key = heapq.heappop(heap)
            if expires.get(key) == at:
                self._expire(key)
                removed += 1
        return removed

    def next_deadline_ms(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def evict(self, key: bytes) -> None:
        """Remove ``key`` to free memory (the eviction policy chose it)."""
        if key not in self.data:
            return
        self._remove(key)
        self.evicted_keys += 1
        if self.watchers:
            self._touch_watchers(key)
        self.propagate([b"DEL", key])

    # -- propagation -------------------------------------------------------------

    def propagate(self, argv: list[bytes]) -> None:
        for listener in self.listeners:
            listener(argv)

    # -- snapshots ---------------------------------------------------------------

    def items(self) -> Iterator[tuple[bytes, bytes, Any, int | None]]:
        """(key, type name, value, expire_at_ms or None) for every live key.

        The values are the live objects (see the table above); a snapshot taken while
        clients write must copy or serialise each one before yielding control.
        """
        now, expires = self.now_ms, self.expires
        for key, value in list(self.data.items()):
            at = expires.get(key)
            if at is not None and at <= now:
                continue
            yield key, TYPE_NAMES.get(type(value), b"string"), value, at

    def restore(self, key: bytes, value: Any, expire_at_ms: int | None = None) -> None:
        """Load one key (snapshot load, full resync): replaces any existing value."""
        self.set(key, value)
        if expire_at_ms is not None:
            self.set_expire(key, expire_at_ms)

    # -- internals ---------------------------------------------------------------

    def _size_of(self, key: bytes, value: Any) -> int:
        if type(value) is bytes:
            return 33 + len(value)
        return self._sizes.pop(key, memory.CONTAINER_BYTES_OVERHEAD)

    def _remove(self, key: bytes) -> None:
        if self.blocking and key in self.blocking:
            # Parked readers re-run: XREADGROUP answers that its stream is gone (as Redis
            # 7.0 does), the others find nothing and keep waiting.
            self.ready.append(key)
        value = self.data.pop(key)
        self.used -= KEY_BYTES_OVERHEAD + len(key) + self._size_of(key, value)
        if key in self.expires:
            del self.expires[key]
            self.used -= EXPIRE_BYTES_OVERHEAD
        if self.tracker is not None:
            self.tracker.removed(key)

    def _drop_expire(self, key: bytes) -> None:
        del self.expires[key]
        self.used -= EXPIRE_BYTES_OVERHEAD
        if self.tracker is not None:
            self.tracker.expire_changed(key, None)

    def _expire(self, key: bytes) -> None:
        if not self.expire_enabled:
            return
        self._remove(key)
        self.expired_keys += 1
        if self.watchers:
            self._touch_watchers(key)
        self.propagate([b"DEL", key])

    def _touch_watchers(self, key: bytes) -> None:
        clients = self.watchers.get(key)
        if clients:
            for client in clients:
                client.dirty_cas = True
