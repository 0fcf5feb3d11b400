"""The one interface every key-to-node hashing scheme implements.

A scheme maps keys (``str`` or ``bytes``) to the name of a node. Schemes are mutable:
``add`` and ``remove`` change membership in place and rebuild whatever lookup structure
the scheme keeps, so ``lookup`` stays one hash plus one search. Membership changes are rare
and lookups are the hot path, so all the work goes to the change. ``copy()`` gives an
independent scheme, which is how "what if" questions are asked without touching the live
one: ``moved_keys(keys, AddNode("n11"))`` copies, applies the change to the copy and
reports every key whose node differs.

Weights are positive numbers, relative to each other; schemes that cannot honour them
(jump hash, modulo) refuse any weight but 1. Node names are non-empty strings and unique.
Every limit of the family is a constant in this module, with its reason.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Self

Key = str | bytes
NodeSpec = Iterable[str] | Mapping[str, float]

# -- limits ------------------------------------------------------------------------------
# A node set larger than this is a configuration mistake; rendezvous lookups are O(nodes).
NODES_MAX = 100_000
# Points per node on a ring; uhashring uses 160, ketama 160, Envoy's ring up to 8M in all.
VNODES_MAX = 10_000
# All points of a ring together (memory: two Python lists of this length).
RING_POINTS_MAX = 10_000_000
# Maglev table entries: Envoy's default is 65,537; 16M keeps a table under ~150 MB.
MAGLEV_TABLE_SIZE_MAX = 1 << 24
# Keys a bounded-load ring tracks as assigned at once.
ASSIGNED_KEYS_MAX = 10_000_000


class EmptyNodeSetError(LookupError):
    """A lookup on a scheme that has no nodes."""

    def __init__(self, scheme: str) -> None:
        super().__init__(f"{scheme}: no nodes to place keys on; add a node first")


class UnknownNodeError(LookupError):
    """A node named in a change is not a member."""


class DuplicateNodeError(ValueError):
    """A node is added twice."""


@dataclass(frozen=True, slots=True)
class Move:
    """One key that a change sends from ``source`` to ``target``."""

    key: Key
    source: str
    target: str


@dataclass(frozen=True, slots=True)
class AddNode:
    """A membership change: ``node`` joins with ``weight``."""

    node: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class RemoveNode:
    """A membership change: ``node`` leaves."""

    node: str


Change = AddNode | RemoveNode


def check_weight(weight: float) -> float:
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise TypeError(f"weight must be a number, not {type(weight).__name__}")
    if not math.isfinite(weight) or weight <= 0:
        raise ValueError(f"weight must be a finite number > 0, got {weight!r}")
    return float(weight)


def check_node(node: str) -> str:
    if not isinstance(node, str):
        raise TypeError(f"node names are str, not {type(node).__name__}")
    if not node:
        raise ValueError("node names must be non-empty")
    return node


def check_count(name: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    return value


def _node_weights(nodes: NodeSpec) -> list[tuple[str, float]]:
    if isinstance(nodes, str | bytes):
        raise TypeError("nodes is a list of names or a {name: weight} mapping, not one string")
    if isinstance(nodes, Mapping):
        return [(node, nodes[node]) for node in nodes]
    return [(node, 1.0) for node in nodes]


class Scheme(ABC):
    """Base of every scheme: membership, weights, validation and the move questions."""

    name: ClassVar[str] = "scheme"
    weighted: ClassVar[bool] = True  # False: only weight 1 is accepted

    def __init__(self, nodes: NodeSpec = ()) -> None:
        self._weights: dict[str, float] = {}
        for node, weight in _node_weights(nodes):
            self._admit(node, weight)
        self._rebuild()

    # -- the interface -------------------------------------------------------------

    @abstractmethod
    def lookup(self, key: Key) -> str:
        """The node that owns ``key``; EmptyNodeSetError without nodes."""

    @abstractmethod
    def _rebuild(self) -> None:
        """Recompute the lookup structure from ``self._weights`` (insertion ordered)."""

    def add(self, node: str, weight: float = 1.0) -> None:
        """Add ``node``; DuplicateNodeError if it is already a member."""
        self._admit(node, weight)
        try:
            self._added(node)
        except BaseException:
            # A rebuild that fails (a limit) must leave the scheme as it was.
            del self._weights[node]
            self._rebuild()
            raise

    def remove(self, node: str) -> None:
        """Remove ``node``; UnknownNodeError if it is not a member."""
        if node not in self._weights:
            raise UnknownNodeError(f"{self.name}: node {node!r} is not a member")
        del self._weights[node]
        self._removed(node)

    def place_all(self, keys: Iterable[Key]) -> list[str]:
        """The node of every key, in order (bounded-load overrides: it assigns in order)."""
        lookup = self.lookup
        return [lookup(key) for key in keys]

    def shares(self) -> dict[str, float] | None:
        """Each node's exact fraction of the key-hash space, or None where not known."""
        return None

    def copy(self) -> Self:
        """An independent scheme with the same members and state."""
        return copy.deepcopy(self)

    def apply(self, change: Change) -> None:
        if isinstance(change, AddNode):
            self.add(change.node, change.weight)
        else:
            self.remove(change.node)

    def moved_keys(self, keys: Sequence[Key], change: Change) -> list[Move]:
        """The keys whose node changes if ``change`` is applied (this scheme is untouched)."""
        after = self.copy()
        after.apply(change)
        return moves(self, after, keys)

    # -- membership ------------------------------------------------------------------

    @property
    def nodes(self) -> tuple[str, ...]:
        """Members in the order they joined."""
        return tuple(self._weights)

    def weight(self, node: str) -> float:
        try:
            return self._weights[node]
        except KeyError:
            raise UnknownNodeError(f"{self.name}: node {node!r} is not a member") from None

    def __len__(self) -> int:
        return len(self._weights)

    def __contains__(self, node: object) -> bool:
        return node in self._weights

    def __repr__(self) -> str:
        return f"{type(self).__name__}(nodes={len(self._weights)})"

    # -- hooks -------------------------------------------------------------------------

    def _admit(self, node: str, weight: float) -> None:
        check_node(node)
        value = check_weight(weight)
        if not self.weighted and value != 1.0:
            raise ValueError(f"{self.name} does not support weights; got {weight!r} for {node!r}")
        if node in self._weights:
            raise DuplicateNodeError(f"{self.name}: node {node!r} is already a member")
        if len(self._weights) >= NODES_MAX:
            raise ValueError(f"{self.name}: at most {NODES_MAX} nodes")
        self._weights[node] = value

    def _added(self, node: str) -> None:
        self._rebuild()

    def _removed(self, node: str) -> None:
        self._rebuild()


def moves(before: Scheme, after: Scheme, keys: Sequence[Key]) -> list[Move]:
    """Every key of ``keys`` whose node differs between ``before`` and ``after``."""
    old = before.place_all(keys)
    new = after.place_all(keys)
    return [Move(key, a, b) for key, a, b in zip(keys, old, new, strict=True) if a != b]
