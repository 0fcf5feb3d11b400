"""Every scheme passes the hashing contract (see ``contract.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hld.core.hashing import (
    BoundedLoadRing,
    HashRing,
    JumpHash,
    KetamaRing,
    MaglevHash,
    Md5Ring,
    ModuloHash,
    RendezvousHash,
    Scheme,
)
from tests.core.hashing.contract import SchemeContract

Nodes = Sequence[str] | Mapping[str, float]


class TestHashRing(SchemeContract):
    def make(self, nodes: Nodes) -> Scheme:
        return HashRing(nodes)


class TestMd5Ring(SchemeContract):
    def make(self, nodes: Nodes) -> Scheme:
        return Md5Ring(nodes)


class TestKetamaRing(SchemeContract):
    def make(self, nodes: Nodes) -> Scheme:
        return KetamaRing(nodes)


class TestRendezvous(SchemeContract):
    def make(self, nodes: Nodes) -> Scheme:
        return RendezvousHash(nodes)


class TestJump(SchemeContract):
    weighted = False

    def make(self, nodes: Nodes) -> Scheme:
        return JumpHash(nodes)


class TestMaglev(SchemeContract):
    # Refilling the table hands a few slots of staying nodes to others (about 0.5 % of
    # slots for 1 of 100 leaving); with 10 nodes and M = 10007 it stays under 3 %.
    minimal_moves = False
    extra_moves_max = 0.03

    def make(self, nodes: Nodes) -> Scheme:
        return MaglevHash(nodes, table_size=10007)


class TestBoundedLoad(SchemeContract):
    # Fresh placements under changed capacities cascade a little past the changed node.
    minimal_moves = False
    extra_moves_max = 0.08

    def make(self, nodes: Nodes) -> Scheme:
        return BoundedLoadRing(nodes)


class TestModulo(SchemeContract):
    consistent = False
    minimal_moves = False
    extra_moves_max = 1.0
    weighted = False

    def make(self, nodes: Nodes) -> Scheme:
        return ModuloHash(nodes)
