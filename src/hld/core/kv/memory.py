"""Approximate memory accounting: what one key and its value cost in this process.

The figures estimate CPython's real cost (object headers, dict slots) rather than
Redis', because ``used_memory`` is compared with ``maxmemory`` to decide evictions and
should track what the process actually holds. Container values are accounted
incrementally by the handlers that mutate them (``element_*`` below), so no call walks a
container except when it is deleted or replaced.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Final

# bytes object header (33) for the key, dict entry and hash-table slot share (~30),
# bytes header for a string value (33): measured with sys.getsizeof and tracemalloc.
KEY_BYTES_OVERHEAD: Final = 63
STRING_BYTES_OVERHEAD: Final = 33
CONTAINER_BYTES_OVERHEAD: Final = 200
HASH_FIELD_BYTES_OVERHEAD: Final = 100  # two bytes objects and a dict slot
LIST_ELEMENT_BYTES_OVERHEAD: Final = 41  # bytes object and a deque slot
SET_MEMBER_BYTES_OVERHEAD: Final = 60  # bytes object and a set slot
ZSET_MEMBER_BYTES_OVERHEAD: Final = 150  # member, float, dict slot, sorted-list entry
EXPIRE_BYTES_OVERHEAD: Final = 70  # int object and a dict slot in the expires dict
BASELINE_BYTES: Final = 1024 * 1024  # what Redis reports for an empty server, about


def hash_field(field: bytes, value: bytes) -> int:
    return HASH_FIELD_BYTES_OVERHEAD + len(field) + len(value)


def list_element(element: bytes) -> int:
    return LIST_ELEMENT_BYTES_OVERHEAD + len(element)


def set_member(member: bytes) -> int:
    return SET_MEMBER_BYTES_OVERHEAD + len(member)


def zset_member(member: bytes) -> int:
    return ZSET_MEMBER_BYTES_OVERHEAD + len(member)


# Sizers for value types other than bytes, by Python type. Other modules (streams, HLL)
# register theirs: value -> approximate bytes, excluding the key.
SIZERS: dict[type, Callable[[Any], int]] = {}


def _hash_size(value: dict[bytes, bytes]) -> int:
    return CONTAINER_BYTES_OVERHEAD + sum(hash_field(f, v) for f, v in value.items())


def _list_size(value: deque[bytes]) -> int:
    return CONTAINER_BYTES_OVERHEAD + sum(list_element(e) for e in value)


def _set_size(value: set[bytes]) -> int:
    return CONTAINER_BYTES_OVERHEAD + sum(set_member(m) for m in value)


SIZERS[dict] = _hash_size
SIZERS[deque] = _list_size
SIZERS[set] = _set_size


def value_size(value: Any) -> int:
    """Approximate bytes held by ``value`` (strings exactly, containers by walking)."""
    if type(value) is bytes:
        return STRING_BYTES_OVERHEAD + len(value)
    sizer = SIZERS.get(type(value))
    if sizer is None:
        return CONTAINER_BYTES_OVERHEAD
    return sizer(value)
