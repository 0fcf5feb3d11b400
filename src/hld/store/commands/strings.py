"""String and counter commands (Redis' t_string.c).

Values are ``bytes`` in ``Keyspace.data``; a HyperLogLog (``hld.core.kv.hll``) is a
string too and reads as its serialised bytes. SET and GET take a short path first,
because they are most of the traffic. Relative TTLs are turned into absolute
deadlines and propagated as PXAT/PEXPIREAT so a replayed AOF or a replica lands on the
same deadline; INCRBYFLOAT propagates the resulting SET.
"""

from __future__ import annotations

import math
from typing import Any, Final

from hld.core.kv.hll import HyperLogLog
from hld.core.kv.replies import (
    INT64_MAX,
    INT64_MIN,
    NAN_OR_INF,
    NOT_FLOAT,
    NOT_INTEGER,
    OVERFLOW,
    SYNTAX,
    WRONGTYPE,
    CommandError,
    parse_float,
    parse_int,
)
from hld.core.resp.serializer import (
    BULK_HEADERS,
    BULK_HEADERS_MAX,
    CRLF,
    NULL3,
    NULL_BULK,
    OK,
    ZERO,
    bulk,
    bulks_or_nulls,
    error,
    format_float_human,
    integer,
)
from hld.store.commands import command, fast_command

STRING_BYTES_MAX: Final = 512 * 1024 * 1024  # Redis' proto-max-bulk-len
EXPIRE_MS_MAX: Final = (1 << 63) - 1  # deadlines are Redis' signed 64-bit milliseconds


def read_string(c: Any, key: bytes) -> bytes | None:
    """The string at ``key`` (counted as a read), None if absent; WRONGTYPE otherwise."""
    value = c.db.get(key)
    if value is None or type(value) is bytes:
        return value
    if type(value) is HyperLogLog:
        return value.to_bytes()
    raise CommandError(WRONGTYPE)


def peek_string(c: Any, key: bytes) -> bytes | None:
    value = c.db.peek(key)
    if value is None or type(value) is bytes:
        return value
    if type(value) is HyperLogLog:
        return value.to_bytes()
    raise CommandError(WRONGTYPE)


def _null(c: Any) -> bytes:
    return NULL3 if c.proto == 3 else NULL_BULK


def expire_at_ms(c: Any, unit: bytes, raw: bytes, command_name: str) -> int:
    """Absolute deadline (Unix ms) from EX/PX/EXAT/PXAT ``raw``; Redis' errors."""
    n = parse_int(raw)
    invalid = error(f"ERR invalid expire time in '{command_name}' command")
    if n <= 0:
        raise CommandError(invalid)
    ms = n * 1000 if unit in (b"EX", b"EXAT") else n
    if ms > EXPIRE_MS_MAX:
        raise CommandError(invalid)
    at = ms if unit in (b"EXAT", b"PXAT") else c.db.now_ms + ms
    if at > EXPIRE_MS_MAX:
        raise CommandError(invalid)
    return at


def store_with_deadline(c: Any, key: bytes, value: bytes, at: int | None,
                        keep_ttl: bool = False) -> None:
    db = c.db
    db.set(key, value, keep_ttl=keep_ttl)
    if at is not None:
        if at <= db.now_ms:  # already past: the key is created and removed at once
            db.delete(key)
            c.propagate = [[b"DEL", key]]
            return
        db.set_expire(key, at)
        c.propagate = [[b"SET", key, value, b"PXAT", b"%d" % at]]
    elif keep_ttl:
        c.propagate = [[b"SET", key, value, b"KEEPTTL"]]
    else:
        c.propagate = [[b"SET", key, value]]


# SET key value [NX | XX] [GET] [EX seconds | PX ms | EXAT ts | PXAT ts-ms | KEEPTTL]
@fast_command("set", arity=-3, flags="write denyoom", keys=(1, 1, 1), group="string")
def set_(c: Any, argv: list[bytes]) -> bytes:
    """Set the string value of a key."""
    if len(argv) == 3:
        c.db.set_string(argv[1], argv[2])
        return OK
    try:
        return _set_with_options(c, argv)
    except CommandError as exc:
        return exc.reply


def _set_with_options(c: Any, argv: list[bytes]) -> bytes:
    key, value = argv[1], argv[2]
    nx = xx = get = keep_ttl = False
    unit: bytes | None = None
    raw = b""
    i = 3
    while i < len(argv):
        opt = argv[i].upper()
        if opt == b"NX" and not xx:
            nx = True
        elif opt == b"XX" and not nx:
            xx = True
        elif opt == b"GET":
            get = True
        elif opt == b"KEEPTTL" and unit is None:
            keep_ttl = True
        elif opt in (b"EX", b"PX", b"EXAT", b"PXAT") and unit is None and not keep_ttl \
                and i + 1 < len(argv):
            unit = opt
            i += 1
            raw = argv[i]
        else:
            raise CommandError(SYNTAX)
        i += 1
    at = expire_at_ms(c, unit, raw, "set") if unit is not None else None
    old = peek_string(c, key) if get else None
    exists = old is not None if get else key in c.db
    if (nx and exists) or (xx and not exists):
        return bulk(old) if old is not None else _null(c)
    store_with_deadline(c, key, value, at, keep_ttl)
    if get:
        return bulk(old) if old is not None else _null(c)
    return OK


# GET key
@fast_command("get", arity=2, flags="readonly fast", keys=(1, 1, 1), group="string")
def get(c: Any, argv: list[bytes]) -> bytes:
    """Get the string value of a key."""
    value = c.db.get(argv[1])
    if type(value) is bytes:
        n = len(value)
        if n < BULK_HEADERS_MAX:
            return BULK_HEADERS[n] + value + CRLF
        return b"$%d\r\n%b\r\n" % (n, value)
    if value is None:
        return NULL3 if c.proto == 3 else NULL_BULK
    if type(value) is HyperLogLog:
        return bulk(value.to_bytes())
    return WRONGTYPE


# MGET key [key ...]
@command("mget", arity=-2, flags="readonly fast", keys=(1, -1, 1), group="string")
def mget(c: Any, argv: list[bytes]) -> bytes:
    """Get the values of all the given keys (nil for missing or non-string keys)."""
    db = c.db
    values: list[bytes | None] = []
    for key in argv[1:]:
        value = db.get(key)
        if type(value) is HyperLogLog:
            value = value.to_bytes()
        values.append(value if type(value) is bytes else None)
    return bulks_or_nulls(values, c.proto)


# MSET key value [key value ...]
@command("mset", arity=-3, flags="write denyoom", keys=(1, -1, 2), group="string")
def mset(c: Any, argv: list[bytes]) -> bytes:
    """Set multiple keys to multiple values."""
    if len(argv) % 2 == 0:
        raise CommandError(error("ERR wrong number of arguments for 'mset' command"))
    for i in range(1, len(argv), 2):
        c.db.set(argv[i], argv[i + 1])
    return OK


# MSETNX key value [key value ...]
@command("msetnx", arity=-3, flags="write denyoom", keys=(1, -1, 2), group="string")
def msetnx(c: Any, argv: list[bytes]) -> bytes:
    """Set multiple keys only if none of them exists."""
    if len(argv) % 2 == 0:
        raise CommandError(error("ERR wrong number of arguments for 'msetnx' command"))
    if any(argv[i] in c.db for i in range(1, len(argv), 2)):
        return ZERO
    for i in range(1, len(argv), 2):
        c.db.set(argv[i], argv[i + 1])
    return integer(1)


def _incr(c: Any, key: bytes, delta: int) -> bytes:
    db = c.db
    old = peek_string(c, key)
    current = 0 if old is None else parse_int(old, NOT_INTEGER)
    new = current + delta
    if not INT64_MIN <= new <= INT64_MAX:
        raise CommandError(OVERFLOW)
    db.set(key, b"%d" % new, keep_ttl=True)
    return integer(new)


# INCR key
@command("incr", arity=2, flags="write denyoom fast", keys=(1, 1, 1), group="string")
def incr(c: Any, argv: list[bytes]) -> bytes:
    """Increment the integer value of a key by one."""
    return _incr(c, argv[1], 1)


# DECR key
@command("decr", arity=2, flags="write denyoom fast", keys=(1, 1, 1), group="string")
def decr(c: Any, argv: list[bytes]) -> bytes:
    """Decrement the integer value of a key by one."""
    return _incr(c, argv[1], -1)


# INCRBY key increment
@command("incrby", arity=3, flags="write denyoom fast", keys=(1, 1, 1), group="string")
def incrby(c: Any, argv: list[bytes]) -> bytes:
    """Increment the integer value of a key by the given amount."""
    return _incr(c, argv[1], parse_int(argv[2]))


# DECRBY key decrement
@command("decrby", arity=3, flags="write denyoom fast", keys=(1, 1, 1), group="string")
def decrby(c: Any, argv: list[bytes]) -> bytes:
    """Decrement the integer value of a key by the given amount."""
    delta = parse_int(argv[2])
    if delta == INT64_MIN:
        raise CommandError(error("ERR decrement would overflow"))
    return _incr(c, argv[1], -delta)


# INCRBYFLOAT key increment
@command("incrbyfloat", arity=3, flags="write denyoom fast", keys=(1, 1, 1), group="string")
def incrbyfloat(c: Any, argv: list[bytes]) -> bytes:
    """Increment the float value of a key by the given amount."""
    key = argv[1]
    delta = parse_float(argv[2])
    old = peek_string(c, key)
    current = 0.0 if old is None else parse_float(old, NOT_FLOAT)
    new = current + delta
    if math.isnan(new) or math.isinf(new):
        raise CommandError(NAN_OR_INF)
    text = format_float_human(new)
    c.db.set(key, text, keep_ttl=True)
    c.propagate = [[b"SET", key, text, b"KEEPTTL"]]
    return bulk(text)


# APPEND key value
@command("append", arity=3, flags="write denyoom", keys=(1, 1, 1), group="string")
def append(c: Any, argv: list[bytes]) -> bytes:
    """Append a value to a key."""
    old = peek_string(c, argv[1]) or b""
    if len(old) + len(argv[2]) > STRING_BYTES_MAX:
        raise CommandError(error("ERR string exceeds maximum allowed size (proto-max-bulk-len)"))
    new = old + argv[2]
    c.db.set(argv[1], new, keep_ttl=True)
    return integer(len(new))


# STRLEN key
@command("strlen", arity=2, flags="readonly fast", keys=(1, 1, 1), group="string")
def strlen(c: Any, argv: list[bytes]) -> bytes:
    """Get the length of the value stored in a key."""
    value = read_string(c, argv[1])
    return integer(0 if value is None else len(value))


# GETDEL key
@command("getdel", arity=2, flags="write fast", keys=(1, 1, 1), group="string")
def getdel(c: Any, argv: list[bytes]) -> bytes:
    """Get the value of a key and delete the key."""
    value = read_string(c, argv[1])
    if value is None:
        return _null(c)
    c.db.delete(argv[1])
    c.propagate = [[b"DEL", argv[1]]]
    return bulk(value)


# GETEX key [EX seconds | PX ms | EXAT ts | PXAT ts-ms | PERSIST]
@command("getex", arity=-2, flags="write fast", keys=(1, 1, 1), group="string")
def getex(c: Any, argv: list[bytes]) -> bytes:
    """Get the value of a key and optionally set its expiration."""
    key = argv[1]
    unit: bytes | None = None
    raw = b""
    persist = False
    i = 2
    while i < len(argv):
        opt = argv[i].upper()
        if opt in (b"EX", b"PX", b"EXAT", b"PXAT") and unit is None and not persist \
                and i + 1 < len(argv):
            unit, raw = opt, argv[i + 1]
            i += 1
        elif opt == b"PERSIST" and unit is None and not persist:
            persist = True
        else:
            raise CommandError(SYNTAX)
        i += 1
    at = expire_at_ms(c, unit, raw, "getex") if unit is not None else None
    value = read_string(c, key)
    if value is None:
        return _null(c)
    db = c.db
    if at is not None:
        if at <= db.now_ms:
            db.delete(key)
            c.propagate = [[b"DEL", key]]
        else:
            db.set_expire(key, at)
            c.propagate = [[b"PEXPIREAT", key, b"%d" % at]]
    elif persist:
        db.persist(key)
        c.propagate = [[b"PERSIST", key]]
    return bulk(value)


# GETSET key value
@command("getset", arity=3, flags="write denyoom fast", keys=(1, 1, 1), group="string")
def getset(c: Any, argv: list[bytes]) -> bytes:
    """Set the string value of a key and return its old value."""
    old = peek_string(c, argv[1])
    c.db.set(argv[1], argv[2])
    c.propagate = [[b"SET", argv[1], argv[2]]]
    return _null(c) if old is None else bulk(old)


def _range(start: int, end: int, length: int) -> tuple[int, int] | None:
    if start < 0:
        start = max(length + start, 0)
    if end < 0:
        end = length + end
    end = min(end, length - 1)
    if start > end or length == 0:
        return None
    return start, end


# GETRANGE key start end
@command("getrange", arity=4, flags="readonly", keys=(1, 1, 1), group="string")
def getrange(c: Any, argv: list[bytes]) -> bytes:
    """Get a substring of the string stored at a key."""
    start, end = parse_int(argv[2]), parse_int(argv[3])
    value = read_string(c, argv[1]) or b""
    if start < 0 and end < 0 and start > end:
        return bulk(b"")
    bounds = _range(start, end, len(value))
    return bulk(b"" if bounds is None else value[bounds[0]: bounds[1] + 1])


# SUBSTR key start end (the old name of GETRANGE)
@command("substr", arity=4, flags="readonly", keys=(1, 1, 1), group="string")
def substr(c: Any, argv: list[bytes]) -> bytes:
    """Get a substring of the string stored at a key."""
    return getrange(c, argv)


# SETRANGE key offset value
@command("setrange", arity=4, flags="write denyoom", keys=(1, 1, 1), group="string")
def setrange(c: Any, argv: list[bytes]) -> bytes:
    """Overwrite part of a string at key starting at the specified offset."""
    offset = parse_int(argv[2])
    if offset < 0:
        raise CommandError(error("ERR offset is out of range"))
    piece = argv[3]
    old = peek_string(c, argv[1])
    if not piece:
        return integer(0 if old is None else len(old))
    if offset + len(piece) > STRING_BYTES_MAX:
        raise CommandError(error("ERR string exceeds maximum allowed size (proto-max-bulk-len)"))
    buf = bytearray(old or b"")
    if len(buf) < offset:
        buf.extend(b"\x00" * (offset - len(buf)))
    buf[offset: offset + len(piece)] = piece
    c.db.set(argv[1], bytes(buf), keep_ttl=True)
    return integer(len(buf))


# SETNX key value
@command("setnx", arity=3, flags="write denyoom fast", keys=(1, 1, 1), group="string")
def setnx(c: Any, argv: list[bytes]) -> bytes:
    """Set the value of a key, only if the key does not exist."""
    if argv[1] in c.db:
        return ZERO
    c.db.set(argv[1], argv[2])
    return integer(1)


def _setex(c: Any, argv: list[bytes], unit: bytes, name: str) -> bytes:
    at = expire_at_ms(c, unit, argv[2], name)
    store_with_deadline(c, argv[1], argv[3], at)
    return OK


# SETEX key seconds value
@command("setex", arity=4, flags="write denyoom", keys=(1, 1, 1), group="string")
def setex(c: Any, argv: list[bytes]) -> bytes:
    """Set the value and expiration of a key."""
    return _setex(c, argv, b"EX", "setex")


# PSETEX key milliseconds value
@command("psetex", arity=4, flags="write denyoom", keys=(1, 1, 1), group="string")
def psetex(c: Any, argv: list[bytes]) -> bytes:
    """Set the value and expiration in milliseconds of a key."""
    return _setex(c, argv, b"PX", "psetex")
