"""HyperLogLog commands: PFADD, PFCOUNT, PFMERGE (``hld.core.kv.hll``).

A HyperLogLog is a string to every other command (GET returns its bytes, SET of those
bytes restores it); PF* commands also accept a string holding a serialised sketch.
"""

from __future__ import annotations

from typing import Any

from hld.core.kv.hll import HyperLogLog
from hld.core.kv.replies import WRONGTYPE, CommandError
from hld.core.resp.serializer import ZERO, error, integer
from hld.store.commands import command

NOT_HLL = error("WRONGTYPE Key is not a valid HyperLogLog string value.")


def _sketch(c: Any, key: bytes, *, read: bool) -> HyperLogLog | None:
    value = c.db.get(key) if read else c.db.peek(key)
    if value is None or type(value) is HyperLogLog:
        return value
    if type(value) is bytes:
        sketch = HyperLogLog.from_bytes(value)
        if sketch is None:
            raise CommandError(NOT_HLL)
        return sketch
    raise CommandError(WRONGTYPE)


# PFADD key [element ...]
@command("pfadd", arity=-2, flags="write denyoom fast", keys=(1, 1, 1), group="hyperloglog",
         since="2.8.9")
def pfadd(c: Any, argv: list[bytes]) -> bytes:
    """Add elements; returns 1 if the estimate may have changed."""
    key = argv[1]
    sketch = _sketch(c, key, read=False)
    created = sketch is None
    if sketch is None:
        sketch = HyperLogLog()
    changed = False
    for element in argv[2:]:
        changed = sketch.add(element) or changed
    if created or changed or type(c.db.peek(key)) is bytes:
        c.db.set(key, sketch, keep_ttl=True)
        c.propagate = [[b"SET", key, sketch.to_bytes(), b"KEEPTTL"]]
    return integer(1) if created or changed else ZERO


# PFCOUNT key [key ...]
@command("pfcount", arity=-2, flags="readonly", keys=(1, -1, 1), group="hyperloglog",
         since="2.8.9")
def pfcount(c: Any, argv: list[bytes]) -> bytes:
    """Estimated number of distinct elements (of the union for several keys)."""
    if len(argv) == 2:
        sketch = _sketch(c, argv[1], read=True)
        return integer(0 if sketch is None else sketch.count())
    union = HyperLogLog()
    for key in argv[1:]:
        sketch = _sketch(c, key, read=True)
        if sketch is not None:
            union.merge(sketch)
    return integer(union.count())


# PFMERGE destkey [sourcekey ...]
@command("pfmerge", arity=-2, flags="write denyoom", keys=(1, -1, 1), group="hyperloglog",
         since="2.8.9")
def pfmerge(c: Any, argv: list[bytes]) -> bytes:
    """Merge sketches into destkey."""
    target = _sketch(c, argv[1], read=False)
    merged = target.copy() if target is not None else HyperLogLog()
    for key in argv[2:]:
        sketch = _sketch(c, key, read=True)
        if sketch is not None:
            merged.merge(sketch)
    c.db.set(argv[1], merged, keep_ttl=True)
    c.propagate = [[b"SET", argv[1], merged.to_bytes(), b"KEEPTTL"]]
    return b"+OK\r\n"
