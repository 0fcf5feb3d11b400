"""Replication IDs: 40 hex characters naming one history of writes, as Redis's."""

from __future__ import annotations

from typing import Protocol

REPLID_HEX_CHARS = 40


class Rng(Protocol):
    def getrandbits(self, k: int, /) -> int: ...


def new_replid(rng: Rng) -> str:
    """A fresh ID: a new history starts (start-up, promotion)."""
    return f"{rng.getrandbits(4 * REPLID_HEX_CHARS):0{REPLID_HEX_CHARS}x}"


def is_replid(text: str) -> bool:
    return len(text) == REPLID_HEX_CHARS and all(ch in "0123456789abcdef" for ch in text)
