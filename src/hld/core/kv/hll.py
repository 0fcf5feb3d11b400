"""HyperLogLog: approximate distinct counting in 16 KB per key (PFADD/PFCOUNT/PFMERGE).

2^14 registers of one byte each (Redis packs 6-bit registers in 12 KB; one byte each is
simpler and cheaper to update from Python). An element's 64-bit hash picks a register with
its low 14 bits and records the run of zeros in the rest plus one. The estimate is the
classic harmonic mean with linear counting for small cardinalities (Flajolet et al.,
2007; standard error 1.04/sqrt(m) = 0.81 %). The hash is BLAKE2b truncated to 64 bits:
stable across processes (Python's ``hash`` is salted), so a snapshot reloads to the same
registers. Redis stores a HyperLogLog as a string; so does hld (``to_bytes``), and TYPE
says ``string``.
"""

from __future__ import annotations

from hashlib import blake2b
from typing import Final

P: Final = 14
REGISTERS: Final = 1 << P
MAGIC: Final = b"HYLL"
_ALPHA: Final = 0.7213 / (1 + 1.079 / REGISTERS)


def _hash64(element: bytes) -> int:
    return int.from_bytes(blake2b(element, digest_size=8).digest(), "little")


class HyperLogLog:
    """One HyperLogLog sketch."""

    __slots__ = ("_cached", "registers")

    def __init__(self, registers: bytearray | None = None) -> None:
        self.registers = registers if registers is not None else bytearray(REGISTERS)
        self._cached: int | None = 0 if registers is None else None

    def add(self, element: bytes) -> bool:
        """Record ``element``; True if a register changed (the estimate may have)."""
        h = _hash64(element)
        index = h & (REGISTERS - 1)
        rest = h >> P
        rank = 1
        while rank <= 64 - P and not rest & 1:
            rank += 1
            rest >>= 1
        if self.registers[index] < rank:
            self.registers[index] = rank
            self._cached = None
            return True
        return False

    def merge(self, other: HyperLogLog) -> None:
        mine, theirs = self.registers, other.registers
        self.registers = bytearray(max(a, b) for a, b in zip(mine, theirs, strict=True))
        self._cached = None

    def count(self) -> int:
        if self._cached is not None:
            return self._cached
        regs = self.registers
        total = 0.0
        zeros = 0
        for r in regs:
            total += 2.0 ** -r
            if r == 0:
                zeros += 1
        estimate = _ALPHA * REGISTERS * REGISTERS / total
        if estimate <= 2.5 * REGISTERS and zeros:
            from math import log
            estimate = REGISTERS * log(REGISTERS / zeros)
        self._cached = round(estimate)
        return self._cached

    def to_bytes(self) -> bytes:
        return MAGIC + bytes(self.registers)

    @classmethod
    def from_bytes(cls, data: bytes) -> HyperLogLog | None:
        """The sketch stored in ``data``, or None if it is not one."""
        if len(data) != len(MAGIC) + REGISTERS or not data.startswith(MAGIC):
            return None
        return cls(bytearray(data[len(MAGIC):]))

    def copy(self) -> HyperLogLog:
        return HyperLogLog(bytearray(self.registers))
