"""Maglev hashing (Eisenbud et al., NSDI 2016): a lookup table filled by permutations.

Each backend has a preference list over the M table slots, the permutation
``(offset + j * skip) mod M`` where offset and skip come from two independent hashes of
its name (``skip`` in [1, M-1], so the list visits every slot because M is prime). The
table is filled in rounds: each backend in turn takes its next preferred slot that is
still free, until every slot is taken. Each backend ends up with M/n slots, give or take
one, so load is near-perfectly even; a lookup is ``table[hash(key) % M]``.

Weights: a backend takes turns in proportion to its weight (each round it earns
``weight / max_weight`` turns; a whole turn takes a slot), which yields slot counts in
proportion to weight.

The trade-off (the paper's section 3.4): when membership changes, the table is refilled
and a few slots whose owner did not leave change hands too (about 0.5 % of slots when one
of 100 backends leaves, with M = 65,537), in exchange for the even load and O(1) lookup.
M must be prime; it should exceed 100 times the number of backends for <= 1 % imbalance.
"""

from __future__ import annotations

from zlib import crc32

from hld.core.hashing._hashes import label_hash64
from hld.core.hashing.base import (
    MAGLEV_TABLE_SIZE_MAX,
    EmptyNodeSetError,
    Key,
    NodeSpec,
    Scheme,
    check_count,
)

DEFAULT_TABLE_SIZE = 65537  # Envoy's default; prime


def is_prime(n: int) -> bool:
    """Deterministic primality by trial division (table sizes are at most 2**24)."""
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    divisor = 3
    while divisor * divisor <= n:
        if n % divisor == 0:
            return False
        divisor += 2
    return True


class MaglevHash(Scheme):
    """Maglev lookup table of prime size (default 65,537), optional weights."""

    name = "maglev"

    def __init__(self, nodes: NodeSpec = (), *, table_size: int = DEFAULT_TABLE_SIZE) -> None:
        check_count("table_size", table_size, 3, MAGLEV_TABLE_SIZE_MAX)
        if not is_prime(table_size):
            raise ValueError(f"maglev table_size must be prime, got {table_size}"
                             " (65537 is the usual choice; use a prime > 100 x nodes)")
        self._size = table_size
        self._table: list[str] = []
        super().__init__(nodes)

    @property
    def table_size(self) -> int:
        return self._size

    def _rebuild(self) -> None:
        if not self._weights:
            self._table = []
            return
        size = self._size
        if len(self._weights) > size:
            raise ValueError(f"maglev: {len(self._weights)} nodes do not fit {size} slots;"
                             " use a larger prime table_size")
        names = list(self._weights)
        # Preference list state per backend: the next position and its stride.
        position = [label_hash64(n, salt=b"maglev-offset") % size for n in names]
        skip = [label_hash64(n, salt=b"maglev-skip") % (size - 1) + 1 for n in names]
        heaviest = max(self._weights.values())
        rate = [self._weights[n] / heaviest for n in names]
        credit = [0.0] * len(names)
        table: list[str | None] = [None] * size
        filled = 0
        while filled < size:  # each round fills at least one slot: the heaviest has rate 1
            for i, name in enumerate(names):
                credit[i] += rate[i]
                while credit[i] >= 1.0:
                    credit[i] -= 1.0
                    slot = position[i]
                    while table[slot] is not None:  # bounded: the permutation visits all
                        slot += skip[i]
                        if slot >= size:
                            slot -= size
                    table[slot] = name
                    position[i] = slot + skip[i] - (size if slot + skip[i] >= size else 0)
                    filled += 1
                    if filled == size:
                        break
                if filled == size:
                    break
        self._table = table  # type: ignore[assignment]  # every slot is filled above

    def lookup(self, key: Key) -> str:
        table = self._table
        try:
            return table[crc32(key.encode() if key.__class__ is str else key)  # type: ignore[arg-type]
                         % self._size]
        except IndexError:
            raise EmptyNodeSetError(self.name) from None

    def table(self) -> tuple[str, ...]:
        """The owner of every slot."""
        return tuple(self._table)

    def slot_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self._weights, 0)
        for owner in self._table:
            counts[owner] += 1
        return counts

    def shares(self) -> dict[str, float]:
        """Exact: the fraction of table slots each node owns (crc32 mod M is near uniform)."""
        return {node: count / self._size for node, count in self.slot_counts().items()}
