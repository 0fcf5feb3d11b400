"""Directory sharding: an explicit lookup table from key to shard.

Every placement is a table entry, so any key can go anywhere and a single hot key can be
moved alone (``move(key, to)``), which hash and range sharding cannot do. The price is
the table itself: it must be stored, kept consistent and consulted on every lookup. Keys
without an entry go to an optional ``fallback`` router (often a hash router), so the
table only needs the exceptions; without a fallback such a lookup is an
``UnplacedKeyError``. Keys are stored as UTF-8 bytes (``"a"`` and ``b"a"`` are one key).

``move`` returns the ``KeyMove`` it made; ``plan_to(after)`` lists every key whose shard
differs between two directories (their entries, plus any keys given).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence

from hld.core.sharding.base import (
    DIRECTORY_ENTRIES_MAX,
    SHARDS_MAX,
    DuplicateShardError,
    Key,
    Router,
    UnknownShardError,
    UnplacedKeyError,
    check_shard,
    check_shards,
    key_bytes,
)
from hld.core.sharding.plan import KeyMove, RebalancePlan, plan_keys


class DirectoryRouter:
    """An explicit key -> shard table, with an optional fallback router."""

    def __init__(self, shards: Sequence[str], entries: Mapping[Key, str] | None = None, *,
                 fallback: Router | None = None) -> None:
        self._shards = check_shards(list(shards))
        if not self._shards:
            raise ValueError("a directory router needs at least one shard")
        if fallback is not None:
            stray = set(fallback.shards) - set(self._shards)
            if stray:
                raise UnknownShardError(f"the fallback router uses shards {sorted(stray)}"
                                        " that the directory does not list")
        self._fallback = fallback
        self._table: dict[bytes, str] = {}
        for key, shard in (entries or {}).items():
            self.assign(key, shard)

    @property
    def shards(self) -> tuple[str, ...]:
        return tuple(self._shards)

    @property
    def fallback(self) -> Router | None:
        return self._fallback

    def entries(self) -> dict[bytes, str]:
        return dict(self._table)

    def lookup(self, key: Key) -> str:
        data = key_bytes(key)
        shard = self._table.get(data)
        if shard is not None:
            return shard
        if self._fallback is None:
            raise UnplacedKeyError(f"key {data!r} has no directory entry and there is no"
                                   " fallback router; assign it first")
        return self._fallback.lookup(data)

    def assign(self, key: Key, shard: str) -> None:
        """Place ``key`` on ``shard`` explicitly."""
        self._check_member(shard)
        data = key_bytes(key)
        if data not in self._table and len(self._table) >= DIRECTORY_ENTRIES_MAX:
            raise ValueError(f"directory is full ({DIRECTORY_ENTRIES_MAX} entries)")
        self._table[data] = shard

    def unassign(self, key: Key) -> None:
        """Drop the entry for ``key`` (it falls back to the fallback router)."""
        self._table.pop(key_bytes(key), None)

    def move(self, key: Key, to: str) -> KeyMove:
        """Move ``key`` to shard ``to``; returns the move (source == target if it was there)."""
        self._check_member(to)
        source = self.lookup(key)
        self.assign(key, to)
        return KeyMove(key_bytes(key), source, to)

    def add_shard(self, shard: str) -> None:
        check_shard(shard)
        if shard in self._shards:
            raise DuplicateShardError(f"shard {shard!r} already exists")
        if len(self._shards) >= SHARDS_MAX:
            raise ValueError(f"at most {SHARDS_MAX} shards")
        self._shards.append(shard)

    def remove_shard(self, shard: str, *, to: str | None = None) -> list[KeyMove]:
        """Remove ``shard``; its entries move to ``to`` (required if it has entries)."""
        self._check_member(shard)
        owned = [key for key, owner in self._table.items() if owner == shard]
        if self._fallback is not None and shard in self._fallback.shards:
            raise ValueError(f"shard {shard!r} is used by the fallback router;"
                             " change the fallback first")
        if owned and to is None:
            raise ValueError(f"shard {shard!r} holds {len(owned)} entries; name a shard to"
                             " move them to (to=...)")
        if to is not None:
            self._check_member(to)
            if to == shard:
                raise ValueError("cannot move entries to the shard being removed")
        moved = [self.move(key, to) for key in owned] if to is not None else []
        self._shards.remove(shard)
        return moved

    def copy(self) -> DirectoryRouter:
        return copy.deepcopy(self)

    def plan_to(self, after: DirectoryRouter, keys: Iterable[Key] = ()) -> RebalancePlan:
        """Keys whose shard differs in ``after``: both tables' entries plus ``keys``."""
        inventory: dict[bytes, None] = dict.fromkeys(self._table)
        inventory.update(dict.fromkeys(after._table))
        inventory.update(dict.fromkeys(key_bytes(k) for k in keys))
        return plan_keys(self, after, inventory)

    def _check_member(self, shard: str) -> None:
        if shard not in self._shards:
            raise UnknownShardError(f"shard {shard!r} is not in this directory")

    def __repr__(self) -> str:
        return f"DirectoryRouter(shards={len(self._shards)}, entries={len(self._table)})"
