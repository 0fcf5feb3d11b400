"""Hash commands (Redis' t_hash.c): field -> value maps stored as ``dict[bytes, bytes]``."""

from __future__ import annotations

from typing import Any

from hld.core.kv import memory
from hld.core.kv.replies import (
    INT64_MAX,
    INT64_MIN,
    NAN_OR_INF,
    OVERFLOW,
    SYNTAX,
    CommandError,
    parse_float,
    parse_int,
)
from hld.core.kv.scan import CURSOR_MASK, scan_members
from hld.core.resp.serializer import (
    NULL3,
    NULL_BULK,
    ZERO,
    array_header,
    bulk,
    bulks,
    bulks_or_nulls,
    error,
    format_float_human,
    integer,
    map_header,
)
from hld.store.commands import command
from hld.store.commands._typed import drop_if_empty, lookup, lookup_or_create

HASH = dict


def _set_fields(c: Any, key: bytes, pairs: list[bytes]) -> int:
    h = lookup_or_create(c, key, HASH)
    added = 0
    delta = 0
    for i in range(0, len(pairs), 2):
        field, value = pairs[i], pairs[i + 1]
        old = h.get(field)
        if old is None:
            added += 1
            delta += memory.hash_field(field, value)
        else:
            delta += len(value) - len(old)
        h[field] = value
    c.db.grew(key, delta)
    return added


# HSET key field value [field value ...]
@command("hset", arity=-4, flags="write denyoom fast", keys=(1, 1, 1), group="hash")
def hset(c: Any, argv: list[bytes]) -> bytes:
    """Set fields of a hash; returns how many were new."""
    if len(argv) % 2:
        raise CommandError(error("ERR wrong number of arguments for 'hset' command"))
    return integer(_set_fields(c, argv[1], argv[2:]))


# HMSET key field value [field value ...]
@command("hmset", arity=-4, flags="write denyoom fast", keys=(1, 1, 1), group="hash")
def hmset(c: Any, argv: list[bytes]) -> bytes:
    """Set fields of a hash (old form of HSET)."""
    if len(argv) % 2:
        raise CommandError(error("ERR wrong number of arguments for 'hmset' command"))
    _set_fields(c, argv[1], argv[2:])
    return b"+OK\r\n"


# HSETNX key field value
@command("hsetnx", arity=4, flags="write denyoom fast", keys=(1, 1, 1), group="hash")
def hsetnx(c: Any, argv: list[bytes]) -> bytes:
    """Set a field only if it does not exist."""
    h = lookup(c, argv[1], HASH, read=False)
    if h is not None and argv[2] in h:
        return ZERO
    _set_fields(c, argv[1], argv[2:4])
    return integer(1)


# HGET key field
@command("hget", arity=3, flags="readonly fast", keys=(1, 1, 1), group="hash")
def hget(c: Any, argv: list[bytes]) -> bytes:
    """The value of a field."""
    h = lookup(c, argv[1], HASH)
    value = None if h is None else h.get(argv[2])
    if value is None:
        return NULL3 if c.proto == 3 else NULL_BULK
    return bulk(value)


# HMGET key field [field ...]
@command("hmget", arity=-3, flags="readonly fast", keys=(1, 1, 1), group="hash")
def hmget(c: Any, argv: list[bytes]) -> bytes:
    """The values of several fields."""
    h = lookup(c, argv[1], HASH) or {}
    return bulks_or_nulls([h.get(f) for f in argv[2:]], c.proto)


# HGETALL key
@command("hgetall", arity=2, flags="readonly", keys=(1, 1, 1), group="hash")
def hgetall(c: Any, argv: list[bytes]) -> bytes:
    """All fields and values."""
    h = lookup(c, argv[1], HASH) or {}
    parts = [map_header(len(h), c.proto)]
    parts.extend(bulk(f) + bulk(v) for f, v in h.items())
    return b"".join(parts)


# HDEL key field [field ...]
@command("hdel", arity=-3, flags="write fast", keys=(1, 1, 1), group="hash")
def hdel(c: Any, argv: list[bytes]) -> bytes:
    """Delete fields; returns how many existed."""
    h = lookup(c, argv[1], HASH, read=False)
    if h is None:
        return ZERO
    removed = 0
    delta = 0
    for field in argv[2:]:
        value = h.pop(field, None)
        if value is not None:
            removed += 1
            delta -= memory.hash_field(field, value)
    if removed:
        c.db.grew(argv[1], delta)
        drop_if_empty(c, argv[1], h)
    return integer(removed)


# HLEN key
@command("hlen", arity=2, flags="readonly fast", keys=(1, 1, 1), group="hash")
def hlen(c: Any, argv: list[bytes]) -> bytes:
    """The number of fields."""
    return integer(len(lookup(c, argv[1], HASH) or ()))


# HSTRLEN key field
@command("hstrlen", arity=3, flags="readonly fast", keys=(1, 1, 1), group="hash")
def hstrlen(c: Any, argv: list[bytes]) -> bytes:
    """The length of a field's value."""
    h = lookup(c, argv[1], HASH) or {}
    return integer(len(h.get(argv[2], b"")))


# HEXISTS key field
@command("hexists", arity=3, flags="readonly fast", keys=(1, 1, 1), group="hash")
def hexists(c: Any, argv: list[bytes]) -> bytes:
    """Whether a field exists."""
    h = lookup(c, argv[1], HASH) or {}
    return integer(1 if argv[2] in h else 0)


# HKEYS key
@command("hkeys", arity=2, flags="readonly", keys=(1, 1, 1), group="hash")
def hkeys(c: Any, argv: list[bytes]) -> bytes:
    """All field names."""
    return bulks(list(lookup(c, argv[1], HASH) or ()))


# HVALS key
@command("hvals", arity=2, flags="readonly", keys=(1, 1, 1), group="hash")
def hvals(c: Any, argv: list[bytes]) -> bytes:
    """All values."""
    return bulks(list((lookup(c, argv[1], HASH) or {}).values()))


# HINCRBY key field increment
@command("hincrby", arity=4, flags="write denyoom fast", keys=(1, 1, 1), group="hash")
def hincrby(c: Any, argv: list[bytes]) -> bytes:
    """Increment the integer value of a field."""
    delta = parse_int(argv[3])
    h = lookup(c, argv[1], HASH, read=False) or {}
    old = h.get(argv[2])
    current = 0 if old is None else parse_int(
        old, error("ERR hash value is not an integer"))
    new = current + delta
    if not INT64_MIN <= new <= INT64_MAX:
        raise CommandError(OVERFLOW)
    _set_fields(c, argv[1], [argv[2], b"%d" % new])
    return integer(new)


# HINCRBYFLOAT key field increment
@command("hincrbyfloat", arity=4, flags="write denyoom fast", keys=(1, 1, 1), group="hash")
def hincrbyfloat(c: Any, argv: list[bytes]) -> bytes:
    """Increment the float value of a field."""
    delta = parse_float(argv[3])
    h = lookup(c, argv[1], HASH, read=False) or {}
    old = h.get(argv[2])
    current = 0.0 if old is None else parse_float(
        old, error("ERR hash value is not a float"))
    new = current + delta
    if new != new or abs(new) == float("inf"):  # noqa: PLR0124 - NaN test
        raise CommandError(NAN_OR_INF)
    text = format_float_human(new)
    _set_fields(c, argv[1], [argv[2], text])
    c.propagate = [[b"HSET", argv[1], argv[2], text]]
    return bulk(text)


# HRANDFIELD key [count [WITHVALUES]]
@command("hrandfield", arity=-2, flags="readonly", keys=(1, 1, 1), group="hash")
def hrandfield(c: Any, argv: list[bytes]) -> bytes:
    """Random fields."""
    h = lookup(c, argv[1], HASH) or {}
    rng = c.engine.rng
    fields = list(h)
    if len(argv) == 2:
        if not fields:
            return NULL3 if c.proto == 3 else NULL_BULK
        return bulk(fields[rng.randrange(len(fields))])
    count = parse_int(argv[2])
    with_values = len(argv) == 4 and argv[3].upper() == b"WITHVALUES"
    if len(argv) > 4 or (len(argv) == 4 and not with_values):
        raise CommandError(SYNTAX)
    if count >= 0:
        chosen = rng.sample(fields, min(count, len(fields)))
    else:
        chosen = [fields[rng.randrange(len(fields))] for _ in range(-count)] if fields else []
    if not with_values:
        return bulks(chosen)
    if c.proto == 3:
        return array_header(len(chosen)) + b"".join(
            b"*2\r\n" + bulk(f) + bulk(h[f]) for f in chosen)
    return array_header(2 * len(chosen)) + b"".join(bulk(f) + bulk(h[f]) for f in chosen)


def scan_reply(cursor: int, items: list[bytes]) -> bytes:
    return array_header(2) + bulk(b"%d" % cursor) + bulks(items)


def parse_scan_args(argv: list[bytes], start: int) -> tuple[Any, int]:
    from hld.core.kv.glob import compile_glob

    match = None
    count = 10
    i = start
    while i < len(argv):
        opt = argv[i].upper()
        if i + 1 >= len(argv):
            raise CommandError(SYNTAX)
        if opt == b"MATCH":
            match = compile_glob(argv[i + 1])
        elif opt == b"COUNT":
            count = parse_int(argv[i + 1])
            if count < 1:
                raise CommandError(SYNTAX)
        else:
            raise CommandError(SYNTAX)
        i += 2
    return match, count


def parse_cursor(raw: bytes) -> int:
    try:
        cursor = int(raw)
    except ValueError:
        raise CommandError(error("ERR invalid cursor")) from None
    if cursor < 0 or cursor > CURSOR_MASK:
        raise CommandError(error("ERR invalid cursor"))
    return cursor


# HSCAN key cursor [MATCH pattern] [COUNT count]
@command("hscan", arity=-3, flags="readonly", keys=(1, 1, 1), group="hash")
def hscan(c: Any, argv: list[bytes]) -> bytes:
    """Incrementally iterate fields and values."""
    cursor = parse_cursor(argv[2])
    match, count = parse_scan_args(argv, 3)
    h = lookup(c, argv[1], HASH) or {}
    nxt, fields = scan_members(h, len(h), cursor, count)
    out: list[bytes] = []
    for f in fields:
        if match is None or match(f):
            out += [f, h[f]]
    return scan_reply(nxt, out)
