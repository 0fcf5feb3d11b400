"""Typed access to keyspace values for the container families.

``lookup(c, key, kind)`` returns the container at ``key`` or None, and answers WRONGTYPE
for a value of another type; ``create(c, key, kind)`` installs an empty container. An
emptied container is deleted by ``drop_if_empty``, as Redis never keeps empty
aggregates.
"""

from __future__ import annotations

from typing import Any

from hld.core.kv.replies import WRONGTYPE, CommandError
from hld.core.resp.serializer import bulk, format_double


def lookup(c: Any, key: bytes, kind: type, *, read: bool = True) -> Any:
    value = c.db.get(key) if read else c.db.peek(key)
    if value is None:
        return None
    if type(value) is not kind:
        raise CommandError(WRONGTYPE)
    return value


def create(c: Any, key: bytes, kind: type) -> Any:
    value = kind()
    c.db.set(key, value)
    return value


def lookup_or_create(c: Any, key: bytes, kind: type) -> Any:
    value = lookup(c, key, kind, read=False)
    return create(c, key, kind) if value is None else value


def drop_if_empty(c: Any, key: bytes, value: Any) -> None:
    if not value:
        c.db.delete(key)


def score(value: float, proto: int) -> bytes:
    if proto == 3:
        return b"," + format_double(value) + b"\r\n"
    return bulk(format_double(value))
