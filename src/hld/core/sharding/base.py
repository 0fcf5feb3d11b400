"""What every sharding router shares: errors, limits, key normalisation, the protocol.

A router answers ``lookup(key) -> shard`` and lists its ``shards``. Keys are ``str`` or
``bytes``; routers that compare or store keys (range, directory) work on their UTF-8
bytes, whose order is the code-point order of the strings, so ``"b" < "c"`` holds either
way and ``"a"`` and ``b"a"`` are the same key.
"""

from __future__ import annotations

from typing import Protocol

Key = str | bytes

# -- limits ------------------------------------------------------------------------------
# Shards per router: beyond this a plan or a statistics snapshot stops being readable,
# and real systems (Vitess, MongoDB) split far below it.
SHARDS_MAX = 65_536
# Explicit entries a directory holds (two dict entries each, ~200 bytes).
DIRECTORY_ENTRIES_MAX = 10_000_000
# Longest key or split point, in bytes (Redis caps keys at 512 MB; a router needs far less).
KEY_BYTES_MAX = 64 * 1024


class UnknownShardError(LookupError):
    """A shard named in a call is not part of the router."""


class DuplicateShardError(ValueError):
    """A shard name is used twice."""


class SplitPointError(ValueError):
    """A split point that is out of order or outside the shard's range."""


class UnplacedKeyError(LookupError):
    """A directory lookup for a key with no entry and no fallback router."""


class Router(Protocol):
    """Anything that places keys on named shards."""

    @property
    def shards(self) -> tuple[str, ...]: ...

    def lookup(self, key: Key) -> str: ...


def key_bytes(key: Key) -> bytes:
    if isinstance(key, str):
        data = key.encode()
    elif isinstance(key, bytes):
        data = key
    else:
        raise TypeError(f"keys are str or bytes, not {type(key).__name__}")
    if len(data) > KEY_BYTES_MAX:
        raise ValueError(f"key of {len(data)} bytes exceeds {KEY_BYTES_MAX}")
    return data


def check_shard(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"shard names are str, not {type(name).__name__}")
    if not name:
        raise ValueError("shard names must be non-empty")
    return name


def check_shards(names: list[str]) -> list[str]:
    """Valid, unique shard names, at most SHARDS_MAX of them."""
    seen: set[str] = set()
    for name in names:
        check_shard(name)
        if name in seen:
            raise DuplicateShardError(f"shard {name!r} is listed twice")
        seen.add(name)
    if len(names) > SHARDS_MAX:
        raise ValueError(f"at most {SHARDS_MAX} shards, got {len(names)}")
    return names
