"""Range sharding: sorted split points divide the key space into contiguous ranges.

With shards ``s0, s1, s2`` and split points ``p1 < p2``, ``s0`` holds keys below ``p1``,
``s1`` holds ``[p1, p2)`` and ``s2`` holds ``p2`` and above; a lookup is one bisection.
Keys compare as UTF-8 bytes (see ``base``). Range scans stay on few shards, which is the
reason to choose ranges over hashes; the price is hotspots when keys arrive in order
(timestamps, counters), which ``split`` relieves and ``stats`` exposes.

``split(shard, at, new)`` gives ``[at, high)`` of ``shard`` to a new shard; ``merge(a, b)``
folds ``b`` into its neighbour ``a``. ``plan_to(other)`` lists the ranges that change
shard between two layouts as ``RangeMove``s, merged where adjacent.
"""

from __future__ import annotations

import copy
import itertools
from bisect import bisect_right
from collections.abc import Sequence

from hld.core.sharding.base import (
    SHARDS_MAX,
    DuplicateShardError,
    Key,
    SplitPointError,
    UnknownShardError,
    check_shard,
    check_shards,
    key_bytes,
)
from hld.core.sharding.plan import Move, RangeMove, RebalancePlan


class RangeRouter:
    """Contiguous key ranges, one per shard, in shard order."""

    def __init__(self, shards: Sequence[str], split_points: Sequence[Key] = ()) -> None:
        names = check_shards(list(shards))
        if not names:
            raise ValueError("a range router needs at least one shard")
        points = [key_bytes(p) for p in split_points]
        if len(points) != len(names) - 1:
            raise SplitPointError(f"{len(names)} shards need {len(names) - 1} split points,"
                                  f" got {len(points)}")
        for low, high in itertools.pairwise(points):
            if not low < high:
                raise SplitPointError(f"split points must increase strictly: {low!r} >= {high!r}")
        self._shards = names
        self._points = points

    @property
    def shards(self) -> tuple[str, ...]:
        """Shards in key order."""
        return tuple(self._shards)

    @property
    def split_points(self) -> tuple[bytes, ...]:
        return tuple(self._points)

    def lookup(self, key: Key) -> str:
        return self._shards[bisect_right(self._points, key_bytes(key))]

    def range_of(self, shard: str) -> tuple[bytes | None, bytes | None]:
        """``[low, high)`` of ``shard``; None is an open end."""
        i = self._index(shard)
        return (self._points[i - 1] if i else None,
                self._points[i] if i < len(self._points) else None)

    def ranges(self) -> list[tuple[bytes | None, bytes | None, str]]:
        bounds: list[bytes | None] = [None, *self._points, None]
        return [(bounds[i], bounds[i + 1], shard) for i, shard in enumerate(self._shards)]

    def split(self, shard: str, at: Key, new_shard: str) -> None:
        """Give the keys of ``shard`` at or above ``at`` to ``new_shard``."""
        check_shard(new_shard)
        if new_shard in self._shards:
            raise DuplicateShardError(f"shard {new_shard!r} already exists")
        if len(self._shards) >= SHARDS_MAX:
            raise ValueError(f"at most {SHARDS_MAX} shards")
        point = key_bytes(at)
        i = self._index(shard)
        low, high = self.range_of(shard)
        if not ((low is None or low < point) and (high is None or point < high)):
            raise SplitPointError(
                f"split point {point!r} is outside the range of {shard!r}"
                f" [{_show(low, '-inf')}, {_show(high, '+inf')}); pick a key strictly inside it")
        self._points.insert(i, point)
        self._shards.insert(i + 1, new_shard)

    def merge(self, shard: str, neighbour: str) -> None:
        """Fold ``neighbour`` (the range right before or after ``shard``) into ``shard``."""
        i = self._index(shard)
        j = self._index(neighbour)
        if abs(i - j) != 1:
            raise SplitPointError(f"{shard!r} and {neighbour!r} are not adjacent ranges;"
                                  " only neighbours can merge")
        del self._points[min(i, j)]
        del self._shards[j]

    def copy(self) -> RangeRouter:
        return copy.deepcopy(self)

    def plan_to(self, after: RangeRouter) -> RebalancePlan:
        """The key ranges whose shard differs in ``after``, as merged RangeMoves."""
        cuts = sorted(set(self._points) | set(after._points))
        bounds: list[bytes | None] = [None, *cuts, None]
        moves: list[Move] = []
        for low, high in itertools.pairwise(bounds):
            probe = low if low is not None else b""  # the smallest key of the piece
            source = self.lookup(probe)
            target = after.lookup(probe)
            if source == target:
                continue
            last = moves[-1] if moves else None
            if (isinstance(last, RangeMove) and last.high == low and last.source == source
                    and last.target == target):
                moves[-1] = RangeMove(last.low, high, source, target)
            else:
                moves.append(RangeMove(low, high, source, target))
        return RebalancePlan(tuple(moves))

    def _index(self, shard: str) -> int:
        try:
            return self._shards.index(shard)
        except ValueError:
            raise UnknownShardError(f"shard {shard!r} is not in this router") from None

    def __repr__(self) -> str:
        return f"RangeRouter(shards={len(self._shards)})"


def _show(bound: bytes | None, open_end: str) -> str:
    return open_end if bound is None else repr(bound)
