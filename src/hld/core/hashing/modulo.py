"""Modulo hashing, the baseline: node = nodes[hash(key) mod n].

Perfectly cheap and, with a good hash, balanced; but changing n re-deals almost every key
(10 nodes becoming 11 moves about 10/11 of them), which is what consistent hashing exists
to avoid. Kept to show that cost in the lab. Unweighted; nodes are taken in join order.
"""

from __future__ import annotations

from zlib import crc32

from hld.core.hashing.base import EmptyNodeSetError, Key, Scheme


class ModuloHash(Scheme):
    """node = nodes[crc32(key) % len(nodes)]."""

    name = "modulo"
    weighted = False

    def _rebuild(self) -> None:
        self._slots = list(self._weights)

    def lookup(self, key: Key) -> str:
        slots = self._slots
        try:
            return slots[crc32(key.encode() if key.__class__ is str else key)  # type: ignore[arg-type]
                         % len(slots)]
        except ZeroDivisionError:
            raise EmptyNodeSetError(self.name) from None

    def shares(self) -> dict[str, float]:
        # crc32 is uniform over 2**32 values: each slot owns floor or ceil of 2**32 / n.
        n = len(self._slots)
        space = 1 << 32
        return {node: (space // n + (1 if i < space % n else 0)) / space
                for i, node in enumerate(self._slots)}
