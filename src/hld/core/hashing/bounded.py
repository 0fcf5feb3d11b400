"""Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam, 2018).

A ring (as ``HashRing``) plus the current load of every node. No node may hold more than
``ceil(balance_factor * (assigned + 1) * weight / total_weight)`` keys, the "+1" being the
key being placed. A key goes to the first node met clockwise from its hash that is below
its capacity, so a hot or unlucky arc overflows onto its successors instead of
overloading one node. This is HAProxy's ``hash-balance-factor`` and Envoy's
``hash_balance_factor`` (they take it as a percentage: 125 here is 1.25).

Because the capacities sum to more than the keys assigned, a walk always finds room
within one lap of the ring. Load is state, so the scheme tracks it: ``assign(key)``
places and counts a key, ``release(key)`` forgets it. ``lookup`` answers where a key is
(if assigned) or would go (if not) without changing anything. When a node leaves, its
keys are re-placed in the order they were assigned; when one joins, assigned keys stay.

``place_all`` / ``moved_keys`` compare fresh placements: an empty copy assigns the keys in
order, as the paper measures movement. The lower the factor, the more even the load and the
more keys move on a change.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable
from typing import Self

from hld.core.hashing.base import (
    ASSIGNED_KEYS_MAX,
    EmptyNodeSetError,
    Key,
    NodeSpec,
)
from hld.core.hashing.ring import HashRing

DEFAULT_BALANCE_FACTOR = 1.25  # HAProxy's documentation suggests 125 (%)


class UnassignedKeyError(LookupError):
    """``release`` of a key that is not assigned."""


class BoundedLoadRing(HashRing):
    """Consistent hashing with bounded loads over a virtual-node ring."""

    name = "bounded"

    def __init__(self, nodes: NodeSpec = (), *, vnodes: int = 160,
                 balance_factor: float = DEFAULT_BALANCE_FACTOR) -> None:
        if isinstance(balance_factor, bool) or not isinstance(balance_factor, int | float):
            raise TypeError("balance_factor must be a number such as 1.25")
        if not 1.0 < balance_factor < math.inf:
            raise ValueError(f"balance_factor must be > 1 (1.25 allows 25 % above the mean),"
                             f" got {balance_factor!r}")
        self._factor = float(balance_factor)
        self._assigned: dict[Key, str] = {}
        self._load: dict[str, int] = {}
        super().__init__(nodes, vnodes=vnodes)

    @property
    def balance_factor(self) -> float:
        return self._factor

    # -- load ----------------------------------------------------------------------------

    def capacity(self, node: str) -> int:
        """How many keys ``node`` may hold once one more key is placed."""
        share = self._weights[node] / self._weight_total
        return math.ceil(self._factor * (len(self._assigned) + 1) * share)

    def load(self, node: str) -> int:
        return self._load[node]

    def loads(self) -> dict[str, int]:
        return dict(self._load)

    def assigned(self) -> int:
        return len(self._assigned)

    def assign(self, key: Key) -> str:
        """Place ``key`` (idempotent: an assigned key stays where it is) and count it."""
        node = self._assigned.get(key)
        if node is not None:
            return node
        if len(self._assigned) >= ASSIGNED_KEYS_MAX:
            raise ValueError(f"bounded: more than {ASSIGNED_KEYS_MAX} keys assigned;"
                             " release keys first")
        node = self._candidate(key)
        self._assigned[key] = node
        self._load[node] += 1
        return node

    def release(self, key: Key) -> str:
        """Forget ``key``; returns the node it was on."""
        try:
            node = self._assigned.pop(key)
        except KeyError:
            raise UnassignedKeyError(f"bounded: key {key!r} is not assigned") from None
        self._load[node] -= 1
        return node

    # -- the scheme ----------------------------------------------------------------------

    def lookup(self, key: Key) -> str:
        node = self._assigned.get(key)
        return node if node is not None else self._candidate(key)

    def _candidate(self, key: Key) -> str:
        points = self._points
        size = len(points)
        if not size:
            raise EmptyNodeSetError(self.name)
        owners = self._owners
        load = self._load
        start = bisect_right(points, self.key_point(key))
        scale = self._factor * (len(self._assigned) + 1) / self._weight_total
        weights = self._weights
        for step in range(size):  # bounded: one lap; capacities sum above the load
            owner = owners[(start + step) % size]
            if load[owner] < math.ceil(scale * weights[owner]):
                return owner
        raise AssertionError("bounded: no node below capacity; capacities must exceed load")

    def copy(self) -> Self:
        twin = super().copy()
        twin._assigned = dict(self._assigned)
        twin._load = dict(self._load)
        return twin

    def shares(self) -> dict[str, float] | None:
        """None: where keys go depends on the load, not on arcs alone."""
        return None

    def place_all(self, keys: Iterable[Key]) -> list[str]:
        fresh = BoundedLoadRing(self._weights, vnodes=self._vnodes, balance_factor=self._factor)
        return [fresh.assign(key) for key in keys]

    def _rebuild(self) -> None:
        super()._rebuild()
        for node in self._weights:
            self._load.setdefault(node, 0)

    def _removed(self, node: str) -> None:
        orphans = [key for key, owner in self._assigned.items() if owner == node]
        for key in orphans:
            del self._assigned[key]
        del self._load[node]
        self._rebuild()
        if orphans and not self._weights:
            return  # nowhere to go; they are simply unassigned now
        for key in orphans:
            self.assign(key)
