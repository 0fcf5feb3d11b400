"""Consistent hash rings: virtual nodes, weights, and placements compatible with ketama.

Each node owns points on a circle (its virtual nodes); a key belongs to the node of the
first point strictly after the key's hash, wrapping past the top. The ring is kept as two
parallel lists, sorted points and their owners, plus one extra owner (the first one again)
at the end, so a lookup is one hash, one ``bisect`` and one index with no wrap-around
branch. Points are generated once per node and cached, so a membership change costs a
sort, not thousands of hashes.

Three placements:

* ``HashRing``: points from blake2b (32 bits), keys from crc32 (see ``_hashes``), the
  cheapest lookup. ``vnodes * weight`` points per node (160 by default, as uhashring).
* ``Md5Ring``: points and keys exactly as uhashring's default mode (the md5 of
  ``"{node}-{i}"`` read as a 128-bit integer, ``vnodes * weight`` points per node).
* ``KetamaRing``: the ketama convention (libketama, uhashring's ``hash_fn="ketama"``):
  a node gets ``floor(vnodes * nodes * weight / total_weight)`` labels ``"{node}-{i}"``,
  and each label's md5 digest yields ``replicas`` 32-bit little-endian points.

When two points collide, the node that joined later owns the point, which is also what
uhashring does; the other node's remaining points are unaffected. Keys given as ``str``
are hashed as UTF-8, so they land where those clients put them; ``bytes`` are hashed as is.
"""

from __future__ import annotations

import copy
import math
from bisect import bisect_right
from typing import Self
from zlib import crc32

from hld.core.hashing._hashes import first_u32_le, ketama_points, label_hash32, md5
from hld.core.hashing.base import (
    RING_POINTS_MAX,
    VNODES_MAX,
    EmptyNodeSetError,
    Key,
    NodeSpec,
    Scheme,
    check_count,
)


class HashRing(Scheme):
    """Consistent hash ring with virtual nodes and weights (blake2b points, crc32 keys)."""

    name = "ring"
    space: int = 1 << 32  # size of the hash circle
    _points_per_label = 1

    def __init__(self, nodes: NodeSpec = (), *, vnodes: int = 160) -> None:
        self._vnodes = check_count("vnodes", vnodes, 1, VNODES_MAX)
        self._point_cache: dict[str, list[int]] = {}  # node -> its point sequence so far
        self._points: list[int] = []
        self._owners: list[str] = []  # one longer than _points: owners[0] again at the end
        super().__init__(nodes)

    @property
    def vnodes(self) -> int:
        return self._vnodes

    def lookup(self, key: Key) -> str:
        try:
            return self._owners[bisect_right(
                self._points, crc32(key.encode() if key.__class__ is str else key))]  # type: ignore[arg-type]
        except IndexError:
            raise EmptyNodeSetError(self.name) from None

    # -- what subclasses vary ------------------------------------------------------------

    def key_point(self, key: Key) -> int:
        """Where ``key`` lands on the circle."""
        return crc32(key.encode() if isinstance(key, str) else key)

    def _point_count(self, node: str) -> int:
        """How many points ``node`` gets under the current membership."""
        return max(1, round(self._vnodes * self._weights[node]))

    def _label_points(self, node: str, index: int) -> list[int]:
        """The points of the ``index``-th label of ``node``."""
        return [label_hash32(f"{node}-{index}")]

    # -- building ------------------------------------------------------------------------

    def node_points(self, node: str) -> list[int]:
        """The points ``node`` places on the ring now (before collisions are resolved)."""
        wanted = self._point_count(node)
        cached = self._point_cache.setdefault(node, [])
        index = len(cached) // self._points_per_label
        while len(cached) < wanted:
            cached.extend(self._label_points(node, index))
            index += 1
        return cached[:wanted]

    def _rebuild(self) -> None:
        for gone in [n for n in self._point_cache if n not in self._weights]:
            del self._point_cache[gone]  # the cache is bounded by the membership
        self._weight_total = math.fsum(self._weights.values())
        self._integral = all(w.is_integer() for w in self._weights.values())
        total = sum(self._point_count(node) for node in self._weights)
        if total > RING_POINTS_MAX:
            raise ValueError(f"{self.name}: {total} points exceed the limit of {RING_POINTS_MAX};"
                             " use fewer vnodes")
        owner_at: dict[int, str] = {}
        for node in self._weights:  # join order: a later node wins a collision
            for point in self.node_points(node):
                owner_at[point] = node
        self._points = sorted(owner_at)
        self._owners = [owner_at[p] for p in self._points]
        if self._owners:
            self._owners.append(self._owners[0])

    def copy(self) -> Self:
        # The sorted lists are replaced, never mutated, on rebuild, so a copy may share
        # them; only the containers that change in place are duplicated. This keeps "what
        # if" questions on 100k-point rings cheap.
        twin = copy.copy(self)
        twin._weights = dict(self._weights)
        twin._point_cache = {node: list(points) for node, points in self._point_cache.items()}
        return twin

    # -- inspection ----------------------------------------------------------------------

    def owner_of_point(self, point: int) -> str:
        """The node owning hash value ``point`` (what ``lookup`` does after hashing)."""
        try:
            return self._owners[bisect_right(self._points, point)]
        except IndexError:
            raise EmptyNodeSetError(self.name) from None

    def points(self) -> list[tuple[int, str]]:
        """(point, owner) pairs in ring order."""
        return list(zip(self._points, self._owners, strict=False))

    def shares(self) -> dict[str, float] | None:
        """Each node's share of the key space: its arcs (see ``arc_shares``)."""
        return self.arc_shares()

    def arc_shares(self) -> dict[str, float]:
        """Exact fraction of the circle each node owns (the arc before each of its points)."""
        owned = dict.fromkeys(self._weights, 0)
        points = self._points
        if not points:
            return dict.fromkeys(owned, 0.0)
        previous = points[-1] - self.space
        for point, owner in zip(points, self._owners, strict=False):
            owned[owner] += point - previous
            previous = point
        return {node: arc / self.space for node, arc in owned.items()}

    def successors(self, key: Key, count: int) -> list[str]:
        """Up to ``count`` distinct nodes met walking the ring from ``key`` (replica sets)."""
        if not self._points:
            raise EmptyNodeSetError(self.name)
        found: list[str] = []
        start = bisect_right(self._points, self.key_point(key))
        size = len(self._points)
        for step in range(size):  # bounded: one lap
            owner = self._owners[(start + step) % size]
            if owner not in found:
                found.append(owner)
                if len(found) == count:
                    break
        return found


class Md5Ring(HashRing):
    """A ring placed exactly as uhashring's default mode (md5 points and keys, 128 bits)."""

    name = "ring-md5"
    space = 1 << 128

    def lookup(self, key: Key) -> str:
        try:
            return self._owners[bisect_right(self._points, int.from_bytes(
                md5(key.encode() if key.__class__ is str else key).digest(), "big"))]  # type: ignore[arg-type]
        except IndexError:
            raise EmptyNodeSetError(self.name) from None

    def key_point(self, key: Key) -> int:
        return int.from_bytes(md5(key.encode() if isinstance(key, str) else key).digest(), "big")

    def _label_points(self, node: str, index: int) -> list[int]:
        return [int.from_bytes(md5(f"{node}-{index}".encode()).digest(), "big")]


class KetamaRing(HashRing):
    """A ring placed exactly as ketama (and uhashring's ``hash_fn="ketama"``)."""

    name = "ketama"

    def __init__(self, nodes: NodeSpec = (), *, vnodes: int = 40, replicas: int = 4) -> None:
        self._replicas = check_count("replicas", replicas, 1, 4)  # 4 slices of one md5 digest
        self._points_per_label = self._replicas
        super().__init__(nodes, vnodes=vnodes)

    def lookup(self, key: Key) -> str:
        try:
            return self._owners[bisect_right(self._points, first_u32_le(
                md5(key.encode() if key.__class__ is str else key).digest())[0])]  # type: ignore[arg-type]
        except IndexError:
            raise EmptyNodeSetError(self.name) from None

    def key_point(self, key: Key) -> int:
        return first_u32_le(md5(key.encode() if isinstance(key, str) else key).digest())[0]

    def _point_count(self, node: str) -> int:
        # ketama shares vnodes * len(nodes) labels out in proportion to weight, rounding
        # down. Integer weights (what ketama users give) use exact integer division.
        share = self._vnodes * len(self._weights) * self._weights[node]
        if self._integral:
            labels = int(share) // int(self._weight_total)
        else:
            labels = math.floor(share / self._weight_total)
        return labels * self._replicas

    def _label_points(self, node: str, index: int) -> list[int]:
        return ketama_points(f"{node}-{index}", self._replicas)
