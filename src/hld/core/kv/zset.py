"""Sorted set: members with float scores, ordered by (score, member).

A dict gives O(1) ZSCORE; a Python list of (score, member) tuples kept sorted with
``bisect`` gives ranks and ranges. Inserting into the list is O(n) memmove, which in
practice beats a Python-level skip list up to hundreds of thousands of members (the
memmove runs in C, a skip list node costs several Python objects). Ties order by member
bytes, as Redis orders them.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from typing import Final

from hld.core.kv import memory
from hld.core.kv.hll import HyperLogLog
from hld.core.kv.keyspace import TYPE_NAMES

_TOP: Final = b"\xff" * 8  # sorts after any member of realistic length in a (score, m) probe


class ZSet:
    """A sorted set (see the module docstring)."""

    __slots__ = ("_order", "scores")

    def __init__(self) -> None:
        self.scores: dict[bytes, float] = {}
        self._order: list[tuple[float, bytes]] = []

    @classmethod
    def from_items(cls, items: Iterable[tuple[bytes, float]]) -> ZSet:
        z = cls()
        for member, score in items:
            z.scores[member] = score
        z._order = sorted((s, m) for m, s in z.scores.items())
        return z

    def items(self) -> Iterator[tuple[bytes, float]]:
        """(member, score) in order."""
        for score, member in self._order:
            yield member, score

    def __len__(self) -> int:
        return len(self.scores)

    def __bool__(self) -> bool:
        return bool(self.scores)

    def __contains__(self, member: object) -> bool:
        return member in self.scores

    def score(self, member: bytes) -> float | None:
        return self.scores.get(member)

    def add(self, member: bytes, score: float) -> bool:
        """Set ``member``'s score; True if the member is new."""
        old = self.scores.get(member)
        if old is not None:
            if old == score:
                return False
            del self._order[bisect_left(self._order, (old, member))]
        self.scores[member] = score
        insort(self._order, (score, member))
        return old is None

    def remove(self, member: bytes) -> bool:
        old = self.scores.pop(member, None)
        if old is None:
            return False
        del self._order[bisect_left(self._order, (old, member))]
        return True

    def rank(self, member: bytes) -> int | None:
        score = self.scores.get(member)
        if score is None:
            return None
        return bisect_left(self._order, (score, member))

    def by_rank(self, start: int, stop: int) -> list[tuple[float, bytes]]:
        """Entries with rank in [start, stop] (already clamped, inclusive)."""
        return self._order[start: stop + 1]

    def rank_range_by_score(self, low: float, low_excl: bool, high: float,
                            high_excl: bool) -> tuple[int, int]:
        """[first, last) ranks of entries with low <(=) score <(=) high."""
        order = self._order
        first = bisect_right(order, (low, _TOP)) if low_excl else bisect_left(order, (low, b""))
        last = bisect_left(order, (high, b"")) if high_excl else bisect_right(order, (high, _TOP))
        # Members longer than the probe can sort after it at equal score: step over them.
        while low_excl and first < len(order) and order[first][0] == low:
            first += 1
        while not high_excl and last < len(order) and order[last][0] == high:
            last += 1
        return first, max(first, last)

    def pop(self, lowest: bool) -> tuple[bytes, float]:
        score, member = self._order.pop(0 if lowest else -1)
        del self.scores[member]
        return member, score

    def entries(self) -> list[tuple[float, bytes]]:
        return self._order


def _zset_size(z: ZSet) -> int:
    return memory.CONTAINER_BYTES_OVERHEAD + sum(memory.zset_member(m) for m in z.scores)


TYPE_NAMES[ZSet] = b"zset"
TYPE_NAMES[HyperLogLog] = b"string"
memory.SIZERS[ZSet] = _zset_size
memory.SIZERS[HyperLogLog] = lambda h: memory.STRING_BYTES_OVERHEAD + 16 * 1024
