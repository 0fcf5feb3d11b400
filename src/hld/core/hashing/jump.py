"""Jump consistent hash (Lamping and Veach, 2014).

The key's 64-bit hash seeds a linear congruential generator; the key "jumps" forward
through bucket numbers and stops at the last jump below n. Growing n from k to k+1 moves
exactly the keys that land in the new bucket (1/(k+1) of them), and nothing needs storing
but n. Buckets are numbered, so nodes are kept as an ordered list of slots:

* adding a node appends a slot (ideal: 1/(n+1) of the keys move, all to the new node);
* removing the last slot is the exact inverse (only its keys move);
* removing another node puts the last slot's node in its place, so besides the removed
  node's keys, the keys of the last bucket are re-dealt too (about 2/n move). Callers who
  can should retire nodes in reverse join order.

Unweighted: the algorithm spreads keys evenly over buckets.
"""

from __future__ import annotations

from zlib import crc32

from hld.core.hashing._hashes import FMIX_C1, FMIX_C2, MASK64
from hld.core.hashing.base import EmptyNodeSetError, Key, NodeSpec, Scheme

_LCG_MULTIPLIER = 2862933555777941757  # the paper's 64-bit LCG constant


def jump_hash(key64: int, buckets: int) -> int:
    """The bucket in [0, buckets) of a 64-bit key, per Lamping and Veach."""
    if buckets < 1:
        raise ValueError(f"buckets must be >= 1, got {buckets}")
    key = key64 & MASK64
    bucket = -1
    candidate = 0
    while candidate < buckets:  # ~ln(buckets) rounds
        bucket = candidate
        key = (key * _LCG_MULTIPLIER + 1) & MASK64
        candidate = int((bucket + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return bucket


class JumpHash(Scheme):
    """Jump consistent hash over an ordered list of node slots."""

    name = "jump"
    weighted = False

    def __init__(self, nodes: NodeSpec = ()) -> None:
        self._slots: list[str] = []
        super().__init__(nodes)

    def _rebuild(self) -> None:
        self._slots = list(self._weights)

    def _added(self, node: str) -> None:
        self._slots.append(node)

    def _removed(self, node: str) -> None:
        index = self._slots.index(node)
        last = self._slots.pop()
        if last != node:
            self._slots[index] = last

    @property
    def slots(self) -> tuple[str, ...]:
        """Nodes by bucket number."""
        return tuple(self._slots)

    def lookup(self, key: Key) -> str:
        slots = self._slots
        buckets = len(slots)
        if not buckets:
            raise EmptyNodeSetError(self.name)
        # mix64 inlined: crc32 spread over 64 bits (murmur3's finaliser), then the jumps.
        state = crc32(key.encode() if key.__class__ is str else key)  # type: ignore[arg-type]
        state ^= state >> 33
        state = (state * FMIX_C1) & MASK64
        state ^= state >> 33
        state = (state * FMIX_C2) & MASK64
        state ^= state >> 33
        bucket = -1
        candidate = 0
        while candidate < buckets:  # inlined jump_hash: this is the hot path
            bucket = candidate
            state = (state * _LCG_MULTIPLIER + 1) & MASK64
            candidate = int((bucket + 1) * (2147483648.0 / ((state >> 33) + 1)))
        return slots[bucket]
