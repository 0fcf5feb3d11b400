"""Weighted rendezvous (highest random weight) hashing.

Every node scores every key and the highest score wins. The score of node i for key k is
``-w_i / ln(u)`` with ``u`` a uniform number in (0, 1) drawn from hash(k, i): this is the
logarithmic method (Schindelhauer and Schomaker), under which node i wins a share
``w_i / sum(w)`` of the keys exactly, and a change of one weight or one member moves only
the keys that must move. The cost is a score per node per lookup, O(n); in exchange
nothing is stored but the members.

hash(k, i) is ``((K XOR seed_i) * C) mod 2**64`` where K is crc32(k) spread over 64 bits by
murmur3's finaliser (once per lookup) and seed_i a blake2b hash of the node name (once per
join). One multiply per node keeps the O(n) loop cheap; since a product's top bits depend
on every bit of its operand, comparing products ranks nodes pseudo-randomly per key
(the lab's load figures for rendezvous match the sampling noise of an ideal hash).
"""

from __future__ import annotations

import math
from zlib import crc32

from hld.core.hashing._hashes import MASK64, label_hash64, mix64
from hld.core.hashing.base import EmptyNodeSetError, Key, NodeSpec, Scheme

_MULTIPLIER = 0x9E3779B97F4A7C15  # 2**64 / golden ratio, odd: Fibonacci hashing
_UNIT = 2.0 ** -53  # (top 53 bits + 0.5) * 2**-53 lies strictly inside (0, 1)


class RendezvousHash(Scheme):
    """Weighted highest-random-weight hashing (score = -w / ln(u))."""

    name = "rendezvous"

    def __init__(self, nodes: NodeSpec = ()) -> None:
        self._entries: list[tuple[int, float, str]] = []
        super().__init__(nodes)

    def _rebuild(self) -> None:
        self._entries = [(label_hash64(node, salt=b"hld-hrw"), weight, node)
                         for node, weight in self._weights.items()]
        self._uniform = len({w for _, w, _ in self._entries}) <= 1

    def lookup(self, key: Key) -> str:
        entries = self._entries
        if not entries:
            raise EmptyNodeSetError(self.name)
        base = mix64(crc32(key.encode() if key.__class__ is str else key))  # type: ignore[arg-type]
        best_node = entries[0][2]
        best = -1.0
        if self._uniform:
            # Equal weights: -w/ln(u) is increasing in u, so compare the hashes directly.
            top = -1
            for seed, _, node in entries:
                h = ((base ^ seed) * _MULTIPLIER) & MASK64
                if h > top:
                    top = h
                    best_node = node
            return best_node
        log = math.log
        for seed, weight, node in entries:
            h = ((base ^ seed) * _MULTIPLIER) & MASK64
            score = -weight / log(((h >> 11) + 0.5) * _UNIT)
            if score > best:
                best = score
                best_node = node
        return best_node
