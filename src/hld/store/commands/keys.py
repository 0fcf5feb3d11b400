"""Generic key commands (Redis' db.c and expire.c): existence, TTLs, renaming, scanning.

TTLs are absolute Unix milliseconds in ``Keyspace.expires``; every EXPIRE-family
command propagates PEXPIREAT with the computed deadline (or DEL when the deadline is
already past, as Redis does) so replicas and the AOF agree with the primary. SCAN's
cursor is Redis' reverse-binary bucket cursor (``hld.core.kv.scan``): every key present
for a whole iteration is returned, whatever is added or deleted meanwhile, and a call
costs about COUNT, not the cursor; KEYS and SCAN match with Redis' glob syntax.
"""

from __future__ import annotations

from typing import Any, Final

from hld.core.kv.glob import compile_glob
from hld.core.kv.replies import NO_SUCH_KEY, SYNTAX, CommandError, parse_int
from hld.core.kv.scan import CURSOR_MASK
from hld.core.resp.serializer import (
    NULL3,
    NULL_BULK,
    OK,
    ZERO,
    array_header,
    bulk,
    bulks,
    error,
    integer,
)
from hld.store.commands import command
from hld.store.limits import SCAN_COUNT_MAX

EXPIRE_MS_MAX: Final = (1 << 63) - 1  # deadlines are Redis' signed 64-bit milliseconds


# DEL key [key ...]
@command("del", arity=-2, flags="write", keys=(1, -1, 1), group="generic")
def del_(c: Any, argv: list[bytes]) -> bytes:
    """Delete keys; returns how many existed."""
    delete = c.db.delete
    return integer(sum(1 for key in argv[1:] if delete(key)))


# UNLINK key [key ...]
@command("unlink", arity=-2, flags="write fast", keys=(1, -1, 1), group="generic")
def unlink(c: Any, argv: list[bytes]) -> bytes:
    """Delete keys (memory is freed by the allocator either way in hld)."""
    return del_(c, argv)


# EXISTS key [key ...]
@command("exists", arity=-2, flags="readonly fast", keys=(1, -1, 1), group="generic")
def exists(c: Any, argv: list[bytes]) -> bytes:
    """Count how many of the given keys exist (repeats count again)."""
    db = c.db
    return integer(sum(1 for key in argv[1:] if key in db))


# TOUCH key [key ...]
@command("touch", arity=-2, flags="readonly fast", keys=(1, -1, 1), group="generic")
def touch(c: Any, argv: list[bytes]) -> bytes:
    """Mark keys as used (eviction policies see the access); returns how many exist."""
    db = c.db
    return integer(sum(1 for key in argv[1:] if db.get(key) is not None))


def _expire(c: Any, argv: list[bytes], unit_ms: int, absolute: bool, name: str) -> bytes:
    key = argv[1]
    n = parse_int(argv[2])
    nx = xx = gt = lt = False
    for raw in argv[3:]:
        opt = raw.upper()
        if opt == b"NX":
            nx = True
        elif opt == b"XX":
            xx = True
        elif opt == b"GT":
            gt = True
        elif opt == b"LT":
            lt = True
        else:
            raise CommandError(error(f"ERR Unsupported option {raw.decode(errors='replace')}"))
    if nx and (xx or gt or lt):
        raise CommandError(error(
            "ERR NX and XX, GT or LT options at the same time are not compatible"))
    if gt and lt:
        raise CommandError(error("ERR GT and LT options at the same time are not compatible"))
    invalid = error(f"ERR invalid expire time in '{name}' command")
    if abs(n) > EXPIRE_MS_MAX // unit_ms:
        raise CommandError(invalid)
    db = c.db
    at = n * unit_ms if absolute else db.now_ms + n * unit_ms
    if at > EXPIRE_MS_MAX:
        raise CommandError(invalid)
    if key not in db:
        return ZERO
    current = db.expires.get(key)
    if nx and current is not None:
        return ZERO
    if xx and current is None:
        return ZERO
    if gt and (current is None or at <= current):
        return ZERO
    if lt and current is not None and at >= current:
        return ZERO
    if at <= db.now_ms:
        db.delete(key)
        c.propagate = [[b"DEL", key]]
        return integer(1)
    db.set_expire(key, at)
    c.propagate = [[b"PEXPIREAT", key, b"%d" % at]]
    return integer(1)


# EXPIRE key seconds [NX | XX | GT | LT]
@command("expire", arity=-3, flags="write fast", keys=(1, 1, 1), group="generic")
def expire(c: Any, argv: list[bytes]) -> bytes:
    """Set a key's time to live in seconds."""
    return _expire(c, argv, 1000, False, "expire")


# PEXPIRE key milliseconds [NX | XX | GT | LT]
@command("pexpire", arity=-3, flags="write fast", keys=(1, 1, 1), group="generic")
def pexpire(c: Any, argv: list[bytes]) -> bytes:
    """Set a key's time to live in milliseconds."""
    return _expire(c, argv, 1, False, "pexpire")


# EXPIREAT key unix-time-seconds [NX | XX | GT | LT]
@command("expireat", arity=-3, flags="write fast", keys=(1, 1, 1), group="generic")
def expireat(c: Any, argv: list[bytes]) -> bytes:
    """Set the expiration for a key as a Unix timestamp."""
    return _expire(c, argv, 1000, True, "expireat")


# PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT]
@command("pexpireat", arity=-3, flags="write fast", keys=(1, 1, 1), group="generic")
def pexpireat(c: Any, argv: list[bytes]) -> bytes:
    """Set the expiration for a key as a Unix timestamp in milliseconds."""
    return _expire(c, argv, 1, True, "pexpireat")


def _ttl(c: Any, key: bytes, divisor: int, absolute: bool) -> bytes:
    db = c.db
    if db.get(key) is None:
        return integer(-2)
    at = db.expires.get(key)
    if at is None:
        return integer(-1)
    if absolute:
        return integer(at // divisor)
    left = max(at - db.now_ms, 0)
    return integer((left + divisor // 2) // divisor if divisor > 1 else left)


# TTL key
@command("ttl", arity=2, flags="readonly fast", keys=(1, 1, 1), group="generic")
def ttl(c: Any, argv: list[bytes]) -> bytes:
    """Seconds to live (-1 without TTL, -2 for a missing key)."""
    return _ttl(c, argv[1], 1000, False)


# PTTL key
@command("pttl", arity=2, flags="readonly fast", keys=(1, 1, 1), group="generic")
def pttl(c: Any, argv: list[bytes]) -> bytes:
    """Milliseconds to live."""
    return _ttl(c, argv[1], 1, False)


# EXPIRETIME key
@command("expiretime", arity=2, flags="readonly fast", keys=(1, 1, 1), group="generic",
         since="7.0.0")
def expiretime(c: Any, argv: list[bytes]) -> bytes:
    """The absolute Unix time (seconds) at which the key expires."""
    return _ttl(c, argv[1], 1000, True)


# PEXPIRETIME key
@command("pexpiretime", arity=2, flags="readonly fast", keys=(1, 1, 1), group="generic",
         since="7.0.0")
def pexpiretime(c: Any, argv: list[bytes]) -> bytes:
    """The absolute Unix time (milliseconds) at which the key expires."""
    return _ttl(c, argv[1], 1, True)


# PERSIST key
@command("persist", arity=2, flags="write fast", keys=(1, 1, 1), group="generic")
def persist(c: Any, argv: list[bytes]) -> bytes:
    """Remove the expiration from a key."""
    if argv[1] not in c.db:
        return ZERO
    return integer(1 if c.db.persist(argv[1]) else 0)


# TYPE key
@command("type", arity=2, flags="readonly fast", keys=(1, 1, 1), group="generic")
def type_(c: Any, argv: list[bytes]) -> bytes:
    """The type of the value stored at key, or none."""
    value = c.db.peek(argv[1])
    if value is None:
        return b"+none\r\n"
    name: bytes = c.db.type_name(value)
    return b"+" + name + b"\r\n"


# RENAME key newkey
@command("rename", arity=3, flags="write", keys=(1, 2, 1), group="generic")
def rename(c: Any, argv: list[bytes]) -> bytes:
    """Rename a key (overwriting newkey)."""
    src, dst = argv[1], argv[2]
    if src not in c.db:
        raise CommandError(NO_SUCH_KEY)
    if src != dst:
        c.db.rename(src, dst)
    else:
        c.db.dirty += 1
    return OK


# RENAMENX key newkey
@command("renamenx", arity=3, flags="write fast", keys=(1, 2, 1), group="generic")
def renamenx(c: Any, argv: list[bytes]) -> bytes:
    """Rename a key only if newkey does not exist."""
    src, dst = argv[1], argv[2]
    if src not in c.db:
        raise CommandError(NO_SUCH_KEY)
    if dst in c.db:
        return ZERO
    c.db.rename(src, dst)
    return integer(1)


# KEYS pattern
@command("keys", arity=2, flags="readonly", keys=(0, 0, 0), group="generic")
def keys(c: Any, argv: list[bytes]) -> bytes:
    """All keys matching a glob pattern."""
    db = c.db
    match = compile_glob(argv[1])
    now, expires = db.now_ms, db.expires
    found = [k for k in db.data if match(k) and not (k in expires and expires[k] <= now)]
    return bulks(found)


# SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
@command("scan", arity=-2, flags="readonly", keys=(0, 0, 0), group="generic")
def scan(c: Any, argv: list[bytes]) -> bytes:
    """Incrementally iterate the keyspace."""
    try:
        cursor = int(argv[1])
    except ValueError:
        raise CommandError(error("ERR invalid cursor")) from None
    if cursor < 0:
        raise CommandError(error("ERR invalid cursor"))
    match = None
    count = 10
    type_name: bytes | None = None
    i = 2
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
        elif opt == b"TYPE":
            type_name = argv[i + 1].lower()
        else:
            raise CommandError(SYNTAX)
        i += 2
    db = c.db
    count = min(count, SCAN_COUNT_MAX)
    if cursor > CURSOR_MASK:
        raise CommandError(error("ERR invalid cursor"))
    next_cursor, batch = db.scan(cursor, count)
    now, expires = db.now_ms, db.expires
    found = []
    for key in batch:
        if key in expires and expires[key] <= now:
            continue
        if match is not None and not match(key):
            continue
        if type_name is not None and db.type_name(db.data[key]) != type_name:
            continue
        found.append(key)
    return array_header(2) + bulk(b"%d" % next_cursor) + bulks(found)


# DBSIZE
@command("dbsize", arity=1, flags="readonly fast", group="server")
def dbsize(c: Any, argv: list[bytes]) -> bytes:
    """The number of keys (including expired ones not yet removed, as Redis)."""
    return integer(len(c.db.data))


def _flush(c: Any, argv: list[bytes]) -> bytes:
    if len(argv) > 2 or (len(argv) == 2 and argv[1].upper() not in (b"ASYNC", b"SYNC")):
        raise CommandError(SYNTAX)
    if c.db.flush() == 0:
        # Nothing removed, no change counted (rdb_changes_since_last_save stays, as in
        # Redis), yet replicas and the AOF still get it, as Redis forces: the shell
        # propagates only writes that moved the change counter, so hand it over here.
        c.db.propagate([b"FLUSHALL"])
    else:
        c.propagate = [[b"FLUSHALL"]]
    return OK


# FLUSHDB [ASYNC | SYNC]
@command("flushdb", arity=-1, flags="write", group="server")
def flushdb(c: Any, argv: list[bytes]) -> bytes:
    """Remove all keys from the current database."""
    return _flush(c, argv)


# FLUSHALL [ASYNC | SYNC]
@command("flushall", arity=-1, flags="write", group="server")
def flushall(c: Any, argv: list[bytes]) -> bytes:
    """Remove all keys from all databases; with save points, save the empty dataset."""
    reply = _flush(c, argv)
    persistence = getattr(c.server, "persistence", None)
    if persistence is not None:
        persistence.after_flushall()
    return reply


# RANDOMKEY
@command("randomkey", arity=1, flags="readonly", group="generic")
def randomkey(c: Any, argv: list[bytes]) -> bytes:
    """A random key, O(1) expected (``Keyspace.random_key``: a lazily kept key list)."""
    key = c.db.random_key(c.engine.rng)
    if key is None:
        return NULL3 if c.proto == 3 else NULL_BULK
    return bulk(key)


# SELECT index
@command("select", arity=2, flags="loading stale fast", group="connection")
def select(c: Any, argv: list[bytes]) -> bytes:
    """Only database 0 exists in hld-store."""
    index = parse_int(argv[1], error("ERR value is not an integer or out of range"))
    if index != 0:
        raise CommandError(error("ERR DB index is out of range"))
    return OK

