"""Rebalance plans: what moves from which shard to which when a configuration changes.

A plan is a frozen list of moves. Range routers move whole key ranges (``RangeMove``,
half-open ``[low, high)``, ``None`` for an open end); hash and directory routers move keys
(``KeyMove``), because a hash scatters every shard over the whole key space. For the
latter, the plan is computed over a sample or an inventory of keys the caller provides:
``plan_keys(before, after, keys)`` works for any pair of routers. A consistent-hash ring
can also say what moves without any keys: the arcs of hash space that change owner
(``HashRangeMove``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from hld.core.sharding.base import Key, Router


@dataclass(frozen=True, slots=True)
class KeyMove:
    """``key`` moves from shard ``source`` to shard ``target``."""

    key: Key
    source: str
    target: str


@dataclass(frozen=True, slots=True)
class RangeMove:
    """Keys in ``[low, high)`` move from ``source`` to ``target`` (None: unbounded end)."""

    low: bytes | None
    high: bytes | None
    source: str
    target: str

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, bytes):
            return False
        return (self.low is None or self.low <= key) and (self.high is None or key < self.high)


@dataclass(frozen=True, slots=True)
class HashRangeMove:
    """Keys whose hash lies in ``[low, high)`` move from ``source`` to ``target``.

    A ring's plan in hash space: independent of which keys exist, as token-range streaming
    works in Cassandra-like stores. ``space`` is the size of the hash circle.
    """

    low: int
    high: int
    source: str
    target: str
    space: int

    @property
    def fraction(self) -> float:
        """The share of the hash space (hence, of uniformly hashed keys) that moves."""
        return (self.high - self.low) / self.space


Move = KeyMove | RangeMove | HashRangeMove


@dataclass(frozen=True, slots=True)
class RebalancePlan:
    """An ordered, immutable list of moves."""

    moves: tuple[Move, ...] = ()

    def __len__(self) -> int:
        return len(self.moves)

    def __iter__(self) -> Iterator[Move]:
        return iter(self.moves)

    def __bool__(self) -> bool:
        return bool(self.moves)

    def routes(self) -> dict[tuple[str, str], int]:
        """How many moves go from each source shard to each target shard."""
        return dict(Counter((m.source, m.target) for m in self.moves))

    def sources(self) -> set[str]:
        return {m.source for m in self.moves}

    def targets(self) -> set[str]:
        return {m.target for m in self.moves}

    def hash_fraction(self) -> float:
        """Share of the hash space that moves (``HashRangeMove``s only)."""
        return sum(m.fraction for m in self.moves if isinstance(m, HashRangeMove))


def plan_keys(before: Router, after: Router, keys: Iterable[Key]) -> RebalancePlan:
    """The keys of ``keys`` that ``after`` places on another shard than ``before`` does."""
    moves: list[Move] = []
    for key in keys:
        source = before.lookup(key)
        target = after.lookup(key)
        if source != target:
            moves.append(KeyMove(key, source, target))
    return RebalancePlan(tuple(moves))
