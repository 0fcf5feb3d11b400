"""Hash sharding: a key's shard is a function of its hash, in modulo or ring mode.

``mode="modulo"`` is ``shards[hash % n]``: even, stateless, and re-deals nearly every key
when n changes. ``mode="ring"`` places shards on a consistent hash ring with virtual nodes
(``hld.core.hashing.HashRing``), so adding or removing a shard moves about 1/n of the keys,
all to or from that shard; weights give bigger shards a bigger share. Because a hash
scatters each shard across the key space, a rebalance plan lists keys, computed over the
keys the caller knows about (``plan_to(after, keys)``).
"""

from __future__ import annotations

import copy
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
from hld.core.sharding.plan import RebalancePlan, plan_keys

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

    def plan_to(self, after: HashRouter, keys: Iterable[Key]) -> RebalancePlan:
        """The keys of ``keys`` that change shard in ``after``."""
        return plan_keys(self, after, keys)

    def __repr__(self) -> str:
        return f"HashRouter(mode={self._mode!r}, shards={len(self._scheme)})"
