"""Hash sharding: a key's shard is a function of its hash, in modulo or ring mode.

``mode="modulo"`` is ``shards[hash % n]``: even, stateless, and re-deals nearly every key
when n changes. ``mode="ring"`` places shards on a consistent hash ring with virtual nodes
(``hld.core.hashing.HashRing``), so adding or removing a shard moves about 1/n of the keys,
all to or from that shard; weights give bigger shards a bigger share. Because a hash
scatters each shard across the key space, a rebalance plan lists keys, computed over the
keys the caller knows about (``plan_to(after, keys)``); in ring mode it can instead list
the arcs of hash space that change owner (``plan_to(after)``), which needs no keys.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from hld.core.hashing import DuplicateNodeError, HashRing, ModuloHash, Scheme, UnknownNodeError
from hld.core.sharding.base import (
    SHARDS_MAX,
    DuplicateShardError,
    Key,
    UnknownShardError,
    check_shards,
)
from hld.core.sharding.plan import HashRangeMove, Move, RebalancePlan, plan_keys


def plan_arcs(before: HashRing, after: HashRing) -> RebalancePlan:
    """The arcs ``[low, high)`` of hash space whose owner differs, merged where adjacent.

    Owners are constant between consecutive ring points, so it is enough to compare the
    two rings on the pieces cut by the union of their points.
    """
    if before.space != after.space:
        raise ValueError("the two rings hash into different spaces")
    cuts = sorted({0} | {p for p, _ in before.points()} | {p for p, _ in after.points()})
    bounds = [*cuts, before.space]
    moves: list[Move] = []
    for low, high in itertools.pairwise(bounds):
        if low == high:
            continue
        source = before.owner_of_point(low)
        target = after.owner_of_point(low)
        if source == target:
            continue
        last = moves[-1] if moves else None
        if (isinstance(last, HashRangeMove) and last.high == low and last.source == source
                and last.target == target):
            moves[-1] = HashRangeMove(last.low, high, source, target, before.space)
        else:
            moves.append(HashRangeMove(low, high, source, target, before.space))
    return RebalancePlan(tuple(moves))

Mode = Literal["modulo", "ring"]
MODES: tuple[Mode, ...] = ("modulo", "ring")


class HashRouter:
    """Shards chosen by key hash: modulo or consistent ring."""

    def __init__(self, shards: Sequence[str] | Mapping[str, float], *, mode: Mode = "ring",
                 vnodes: int = 160) -> None:
        names = check_shards(list(shards))
        if not names:
            raise ValueError("a hash router needs at least one shard")
        if mode == "ring":
            self._scheme: Scheme = HashRing(shards, vnodes=vnodes)
        elif mode == "modulo":
            if isinstance(shards, Mapping) and any(w != 1 for w in shards.values()):
                raise ValueError("modulo hashing cannot weight shards; use mode='ring'")
            self._scheme = ModuloHash(names)
        else:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        self._mode: Mode = mode

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def shards(self) -> tuple[str, ...]:
        return self._scheme.nodes

    def lookup(self, key: Key) -> str:
        return self._scheme.lookup(key)

    def add_shard(self, shard: str, weight: float = 1.0) -> None:
        if len(self._scheme) >= SHARDS_MAX:
            raise ValueError(f"at most {SHARDS_MAX} shards")
        try:
            self._scheme.add(shard, weight)
        except DuplicateNodeError:
            raise DuplicateShardError(f"shard {shard!r} already exists") from None

    def remove_shard(self, shard: str) -> None:
        if len(self._scheme) == 1 and shard in self._scheme:
            raise ValueError(f"cannot remove {shard!r}: it is the last shard")
        try:
            self._scheme.remove(shard)
        except UnknownNodeError:
            raise UnknownShardError(f"shard {shard!r} is not in this router") from None

    def copy(self) -> HashRouter:
        return copy.deepcopy(self)

    def plan_to(self, after: HashRouter, keys: Iterable[Key] | None = None) -> RebalancePlan:
        """What changes shard in ``after``: the keys of ``keys`` if given; otherwise (ring
        mode only) the arcs of hash space that change owner."""
        if keys is not None:
            return plan_keys(self, after, keys)
        if self._mode != "ring" or after._mode != "ring":
            raise ValueError("a modulo router moves keys, not hash ranges; pass keys=...")
        before_ring, after_ring = self._scheme, after._scheme
        assert isinstance(before_ring, HashRing)  # ring mode always builds a HashRing
        assert isinstance(after_ring, HashRing)
        return plan_arcs(before_ring, after_ring)

    def __repr__(self) -> str:
        return f"HashRouter(mode={self._mode!r}, shards={len(self._scheme)})"
