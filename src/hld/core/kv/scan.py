"""SCAN cursors that keep Redis' guarantee: a key present for a whole iteration is returned.

Strategy: Redis' reverse-binary cursor over a table of 2**bits buckets, where a key's
bucket is ``hash(key) & (2**bits - 1)``. The cursor is a bucket index whose bits are
incremented from the top, so every bucket of a smaller or larger table that covers an
already visited bucket is also visited: the guarantee holds while the table is resized
between calls (a shrink may return a key twice, which SCAN allows).

``ScanIndex`` groups the keyspace's keys by bucket. It is built on the first SCAN (a
server that never scans pays nothing), then the keyspace appends every new key to it;
deleted keys are left in place and skipped when read (``key in data``), so a delete costs
nothing here. The index holds one tuple slot per key (8 bytes, no per-key object), is
rebuilt from the live keys when it holds twice what its table was sized for (which
resizes the table to about ``KEYS_PER_BUCKET`` keys a bucket and drops stale entries),
and is dropped when no SCAN has used it for ``INDEX_IDLE_MS``, so the memory is only
held while clients scan. Building costs one pass over the keyspace (about 1 s per
million keys here), paid by the SCAN call that needs it.

Containers (HSCAN, SSCAN, ZSCAN) use ``scan_members``: small ones are returned whole in
one call (cursor 0, as Redis does for its compact encodings); larger ones are filtered by
bucket in one pass per call, the same cursor sequence without a maintained index.

Python's ``hash`` of bytes is stable within a process (and cached on the key object);
cursors are not meant to survive a restart, as in Redis after a rehash with a new seed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

CURSOR_BITS: Final = 64
CURSOR_MASK: Final = (1 << CURSOR_BITS) - 1
BUCKET_BITS_MIN: Final = 2
# Keys per bucket the table is sized for. A bucket costs ~40-60 bytes, so one key per
# bucket would cost ~90 MB per million keys; 32 per bucket costs ~9 MB (one 8-byte
# tuple slot per key plus the buckets), and a call returns at most ~COUNT + 32 keys.
KEYS_PER_BUCKET: Final = 32
# A container this small is returned in one call (Redis: listpack/intset encodings).
CONTAINER_WHOLE_MAX: Final = 128
# An index no SCAN has used for this long is dropped (its memory returned); the next
# SCAN rebuilds it, and the cursor stays valid across the rebuild.
INDEX_IDLE_MS: Final = 30_000
# Empty buckets one call may visit per requested entry before returning (Redis: 10x).
EMPTY_BUCKETS_PER_COUNT: Final = 10


def _reverse(v: int) -> int:
    return int(format(v, "064b")[::-1], 2)


def next_cursor(cursor: int, mask: int) -> int:
    """The bucket after ``cursor`` in reverse-binary order, 0 once the table is done."""
    v = cursor | (~mask & CURSOR_MASK)
    v = _reverse(v)
    v = (v + 1) & CURSOR_MASK
    return _reverse(v)


def bits_for(n: int) -> int:
    """Table size (log2) for ``n`` entries: about ``KEYS_PER_BUCKET`` per bucket."""
    return max(BUCKET_BITS_MIN, (max(n // KEYS_PER_BUCKET, 1) - 1).bit_length())


class ScanIndex:
    """Keys grouped by bucket; stale (deleted) keys are tolerated and filtered on read.

    Buckets are tuples (8 bytes a key, no spare capacity); keys added after the build
    wait in ``added`` (bucket -> list) until the next rebuild.
    """

    __slots__ = ("added", "bits", "buckets", "entries", "mask")

    def __init__(self, keys: Iterable[bytes], n: int) -> None:
        self.bits = bits_for(n)
        self.mask = mask = (1 << self.bits) - 1
        groups: list[list[bytes]] = [[] for _ in range(1 << self.bits)]
        for key in keys:
            groups[hash(key) & mask].append(key)
        buckets: list[tuple[bytes, ...]] = []
        for i, group in enumerate(groups):
            buckets.append(tuple(group))
            groups[i] = []  # free as we go: the lists and the tuples never both peak
        self.buckets = buckets
        self.added: dict[int, list[bytes]] = {}
        self.entries = n

    def add(self, key: bytes) -> bool:
        """Record a new key; False when the index is full and must be rebuilt."""
        bucket = hash(key) & self.mask
        added = self.added.get(bucket)
        if added is None:
            self.added[bucket] = [key]
        else:
            added.append(key)
        self.entries += 1
        return self.entries <= 2 * KEYS_PER_BUCKET << self.bits

    def scan(self, data: dict[bytes, Any], cursor: int, count: int) -> tuple[int, list[bytes]]:
        """Live keys from buckets starting at ``cursor`` until ``count`` are visited."""
        mask, buckets, added = self.mask, self.buckets, self.added
        found: list[bytes] = []
        empty_left = count * EMPTY_BUCKETS_PER_COUNT
        while True:
            index = cursor & mask
            bucket = buckets[index]
            extra = added.pop(index, None) if added else None
            if bucket or extra:
                held = len(bucket) + (len(extra) if extra else 0)
                live = tuple(k for k in dict.fromkeys(bucket + tuple(extra or ()))
                             if k in data)
                # Drop stale entries and duplicates, fold added keys in, while at hand.
                self.entries -= held - len(live)
                buckets[index] = live
                found += live
            else:
                empty_left -= 1
            cursor = next_cursor(cursor, mask)
            if cursor == 0 or len(found) >= count or empty_left <= 0:
                return cursor, found


def scan_members(members: Iterable[Any], size: int, cursor: int, count: int,
                 key: Any = None) -> tuple[int, list[Any]]:
    """One SCAN step over a container of ``size`` members (HSCAN, SSCAN, ZSCAN).

    ``key(member)`` gives the bytes a member hashes by (default: the member itself).
    """
    if size <= CONTAINER_WHOLE_MAX:
        # Also mid-iteration (the container shrank): everything again is still correct.
        return 0, list(members)
    mask = (1 << bits_for(size)) - 1
    # Buckets this call covers, in cursor order, until about ``count`` members.
    by_bucket: dict[int, list[Any]] = {}
    for m in members:
        by_bucket.setdefault(hash(m if key is None else key(m)) & mask, []).append(m)
    found: list[Any] = []
    empty_left = count * EMPTY_BUCKETS_PER_COUNT
    while True:
        group = by_bucket.get(cursor & mask)
        if group:
            found += group
        else:
            empty_left -= 1
        cursor = next_cursor(cursor, mask)
        if cursor == 0 or len(found) >= count or empty_left <= 0:
            return cursor, found

