"""Random keys in O(1) expected time (RANDOMKEY), without a per-key cost for servers that
never ask.

A Python dict has no random access (reaching position i walks i entries), so the
keyspace keeps, while RANDOMKEY is in use, ``KeySample``: a plain list of its keys (8
bytes a key, no per-key object). It is built on first use by ``list(data)`` (C speed:
about 25 ms per million keys here, against ~1 s for a Python-level pass), then the
keyspace appends each new key. Deleted keys are left in place and skipped when drawn
(``key in data``), so a delete costs nothing here. The list is rebuilt from the live keys
when it holds more than twice as many entries as there are keys (a draw then hits a
live key with probability above one half) or when more keys were appended since the
build than an eighth of the live keys (a key deleted and created again is held twice,
which skews the draw towards churned keys; this bounds the skew: a key deleted and
re-created before every draw in a 30-key keyspace is drawn ~2.3x as often as the
others, see tests/core/kv/test_random_key.py). Each rebuild costs O(n) and follows at
least n/8 writes, so every operation stays O(1) amortized. The keyspace drops the list
after ``SAMPLE_IDLE_MS`` without a RANDOMKEY, so its memory is held only while clients ask.

Redis' own RANDOMKEY is not uniform either (a random bucket, then a random chain entry);
this one is uniform over the list's entries, which are the live keys plus, between
rebuilds, bounded duplicates of re-created keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Protocol

# A sample no RANDOMKEY used for this long is dropped (its memory returned).
SAMPLE_IDLE_MS: Final = 30_000
# Keys created since the build, as a fraction of the live keys, before a rebuild (see
# above: a smaller fraction is a smaller skew for more frequent O(n) rebuilds).
APPENDED_FRACTION_MAX: Final = 1 / 8
# Draws that hit deleted keys, in one call, before the list is rebuilt there and then
# (the ratios make this unlikely: (1/2)**32 per call).
STALE_DRAWS_MAX: Final = 32


class Rng(Protocol):
    def randrange(self, stop: int, /) -> int: ...


class KeySample:
    """The keys of a dict in a list, for random draws; stale entries are tolerated."""

    __slots__ = ("appended", "keys")

    def __init__(self, keys: Iterable[bytes]) -> None:
        self.keys: list[bytes] = list(keys)
        self.appended = 0

    def add(self, key: bytes) -> None:
        """A key was created in the keyspace."""
        self.keys.append(key)
        self.appended += 1

    def needs_rebuild(self, live: int) -> bool:
        """True when too many entries are stale or duplicated for ``live`` keys."""
        return (len(self.keys) > 2 * live
                or self.appended > live * APPENDED_FRACTION_MAX)

    def draw(self, rng: Rng) -> bytes:
        """One entry at random (maybe a deleted key: the caller checks)."""
        keys = self.keys
        return keys[rng.randrange(len(keys))]
