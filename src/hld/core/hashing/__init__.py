"""Key-to-node hashing schemes behind one interface (see ``base``).

``HashRing`` (virtual nodes, weights), ``Md5Ring`` and ``KetamaRing`` (placements equal
to uhashring's default and ketama modes), ``RendezvousHash`` (weighted HRW), ``JumpHash``,
``MaglevHash`` (prime table), ``BoundedLoadRing`` (consistent hashing with bounded loads)
and ``ModuloHash`` (the baseline).
"""

from hld.core.hashing.base import (
    AddNode,
    Change,
    DuplicateNodeError,
    EmptyNodeSetError,
    Key,
    Move,
    RemoveNode,
    Scheme,
    UnknownNodeError,
    moves,
)
from hld.core.hashing.bounded import BoundedLoadRing, UnassignedKeyError
from hld.core.hashing.jump import JumpHash, jump_hash
from hld.core.hashing.maglev import MaglevHash
from hld.core.hashing.modulo import ModuloHash
from hld.core.hashing.rendezvous import RendezvousHash
from hld.core.hashing.ring import HashRing, KetamaRing, Md5Ring

__all__ = [
    "AddNode",
    "BoundedLoadRing",
    "Change",
    "DuplicateNodeError",
    "EmptyNodeSetError",
    "HashRing",
    "JumpHash",
    "KetamaRing",
    "Key",
    "MaglevHash",
    "Md5Ring",
    "ModuloHash",
    "Move",
    "RemoveNode",
    "RendezvousHash",
    "Scheme",
    "UnassignedKeyError",
    "UnknownNodeError",
    "jump_hash",
    "moves",
]
