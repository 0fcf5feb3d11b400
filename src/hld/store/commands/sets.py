"""Set commands (Redis' t_set.c): unordered unique members in a ``set[bytes]``.

SPOP is propagated as the SREM of the members it chose, so replicas and the AOF remove
the same members instead of drawing their own.
"""

from __future__ import annotations

from typing import Any

from hld.core.kv import memory
from hld.core.kv.replies import SYNTAX, CommandError, parse_int
from hld.core.kv.scan import scan_members
from hld.core.resp.serializer import (
    NULL3,
    NULL_BULK,
    ZERO,
    array_header,
    bulk,
    bulks,
    error,
    integer,
    set_header,
)
from hld.store.commands import command
from hld.store.commands._typed import drop_if_empty, lookup
from hld.store.commands.hashes import parse_cursor, parse_scan_args, scan_reply

SET = set


def _members(c: Any, members: list[bytes] | set[bytes]) -> bytes:
    return set_header(len(members), c.proto) + b"".join(bulk(m) for m in members)


# SADD key member [member ...]
@command("sadd", arity=-3, flags="write denyoom fast", keys=(1, 1, 1), group="set")
def sadd(c: Any, argv: list[bytes]) -> bytes:
    """Add members; returns how many were new."""
    s = lookup(c, argv[1], SET, read=False)
    if s is None:
        s = SET()
        c.db.set(argv[1], s)
    before = len(s)
    delta = 0
    for m in argv[2:]:
        if m not in s:
            s.add(m)
            delta += memory.set_member(m)
    added = len(s) - before
    if added:
        c.db.grew(argv[1], delta)
    return integer(added)


# SREM key member [member ...]
@command("srem", arity=-3, flags="write fast", keys=(1, 1, 1), group="set")
def srem(c: Any, argv: list[bytes]) -> bytes:
    """Remove members; returns how many existed."""
    s = lookup(c, argv[1], SET, read=False)
    if s is None:
        return ZERO
    removed = 0
    delta = 0
    for m in argv[2:]:
        if m in s:
            s.discard(m)
            removed += 1
            delta -= memory.set_member(m)
    if removed:
        c.db.grew(argv[1], delta)
        drop_if_empty(c, argv[1], s)
    return integer(removed)


# SMEMBERS key
@command("smembers", arity=2, flags="readonly", keys=(1, 1, 1), group="set")
def smembers(c: Any, argv: list[bytes]) -> bytes:
    """All members."""
    return _members(c, lookup(c, argv[1], SET) or set())


# SISMEMBER key member
@command("sismember", arity=3, flags="readonly fast", keys=(1, 1, 1), group="set")
def sismember(c: Any, argv: list[bytes]) -> bytes:
    """Whether a member is in the set."""
    return integer(1 if argv[2] in (lookup(c, argv[1], SET) or ()) else 0)


# SMISMEMBER key member [member ...]
@command("smismember", arity=-3, flags="readonly fast", keys=(1, 1, 1), group="set")
def smismember(c: Any, argv: list[bytes]) -> bytes:
    """Membership of several members."""
    s = lookup(c, argv[1], SET) or set()
    return array_header(len(argv) - 2) + b"".join(
        integer(1 if m in s else 0) for m in argv[2:])


# SCARD key
@command("scard", arity=2, flags="readonly fast", keys=(1, 1, 1), group="set")
def scard(c: Any, argv: list[bytes]) -> bytes:
    """The number of members."""
    return integer(len(lookup(c, argv[1], SET) or ()))


# SPOP key [count]
@command("spop", arity=-2, flags="write fast", keys=(1, 1, 1), group="set")
def spop(c: Any, argv: list[bytes]) -> bytes:
    """Remove and return random members."""
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    count = None
    if len(argv) == 3:
        count = parse_int(argv[2], error("ERR value is out of range, must be positive"))
        if count < 0:
            raise CommandError(error("ERR value is out of range, must be positive"))
    s = lookup(c, argv[1], SET, read=False)
    if s is None:
        if count is None:
            return NULL3 if c.proto == 3 else NULL_BULK
        return _members(c, [])
    chosen = c.engine.rng.sample(sorted(s), min(count if count is not None else 1, len(s)))
    for m in chosen:
        s.discard(m)
    c.db.grew(argv[1], -sum(memory.set_member(m) for m in chosen))
    drop_if_empty(c, argv[1], s)
    c.propagate = [[b"SREM", argv[1], *chosen]] if chosen else None
    if count is None:
        return bulk(chosen[0])
    return _members(c, chosen)


# SRANDMEMBER key [count]
@command("srandmember", arity=-2, flags="readonly", keys=(1, 1, 1), group="set")
def srandmember(c: Any, argv: list[bytes]) -> bytes:
    """Random members (negative count: may repeat)."""
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    s = lookup(c, argv[1], SET)
    members = sorted(s or ())
    rng = c.engine.rng
    if len(argv) == 2:
        if not members:
            return NULL3 if c.proto == 3 else NULL_BULK
        return bulk(members[rng.randrange(len(members))])
    count = parse_int(argv[2])
    if count >= 0:
        return bulks(rng.sample(members, min(count, len(members))))
    if not members:
        return array_header(0)
    return bulks([members[rng.randrange(len(members))] for _ in range(-count)])


# SMOVE source destination member
@command("smove", arity=4, flags="write fast", keys=(1, 2, 1), group="set")
def smove(c: Any, argv: list[bytes]) -> bytes:
    """Move a member from one set to another."""
    src = lookup(c, argv[1], SET, read=False)
    dst = lookup(c, argv[2], SET, read=False)
    if src is None or argv[3] not in src:
        return ZERO
    if argv[1] == argv[2]:
        return integer(1)
    srem(c, [b"SREM", argv[1], argv[3]])
    if dst is None or argv[3] not in dst:
        sadd(c, [b"SADD", argv[2], argv[3]])
    return integer(1)


def _combine(c: Any, keys: list[bytes], op: str) -> set[bytes]:
    found: list[set[bytes] | None] = [lookup(c, k, SET) for k in keys]
    present: list[set[bytes]] = [m for m in found if m is not None]
    if op == "inter":
        if len(present) < len(found):
            return set()
        present.sort(key=len)
        result = set(present[0])
        for members in present[1:]:
            result &= members
        return result
    if op == "union":
        return set().union(*present)
    result = set(found[0] or ())
    for other in found[1:]:
        if other:
            result -= other
    return result


def _store(c: Any, dst: bytes, members: set[bytes]) -> bytes:
    c.db.delete(dst)
    if members:
        c.db.set(dst, members)
    else:
        c.db.dirty += 1
    return integer(len(members))


# SINTER key [key ...]
@command("sinter", arity=-2, flags="readonly", keys=(1, -1, 1), group="set")
def sinter(c: Any, argv: list[bytes]) -> bytes:
    """Intersection of sets."""
    return _members(c, _combine(c, argv[1:], "inter"))


# SUNION key [key ...]
@command("sunion", arity=-2, flags="readonly", keys=(1, -1, 1), group="set")
def sunion(c: Any, argv: list[bytes]) -> bytes:
    """Union of sets."""
    return _members(c, _combine(c, argv[1:], "union"))


# SDIFF key [key ...]
@command("sdiff", arity=-2, flags="readonly", keys=(1, -1, 1), group="set")
def sdiff(c: Any, argv: list[bytes]) -> bytes:
    """Members of the first set not in the others."""
    return _members(c, _combine(c, argv[1:], "diff"))


# SINTERSTORE destination key [key ...]
@command("sinterstore", arity=-3, flags="write denyoom", keys=(1, -1, 1), group="set")
def sinterstore(c: Any, argv: list[bytes]) -> bytes:
    """Store the intersection of sets."""
    return _store(c, argv[1], _combine(c, argv[2:], "inter"))


# SUNIONSTORE destination key [key ...]
@command("sunionstore", arity=-3, flags="write denyoom", keys=(1, -1, 1), group="set")
def sunionstore(c: Any, argv: list[bytes]) -> bytes:
    """Store the union of sets."""
    return _store(c, argv[1], _combine(c, argv[2:], "union"))


# SDIFFSTORE destination key [key ...]
@command("sdiffstore", arity=-3, flags="write denyoom", keys=(1, -1, 1), group="set")
def sdiffstore(c: Any, argv: list[bytes]) -> bytes:
    """Store the difference of sets."""
    return _store(c, argv[1], _combine(c, argv[2:], "diff"))


# SINTERCARD numkeys key [key ...] [LIMIT limit]
@command("sintercard", arity=-3, flags="readonly", keys=(2, -1, 1), group="set", since="7.0.0")
def sintercard(c: Any, argv: list[bytes]) -> bytes:
    """Size of the intersection (capped by LIMIT)."""
    n = parse_int(argv[1])
    if n <= 0:
        raise CommandError(error("ERR numkeys should be greater than 0"))
    if len(argv) < 2 + n:
        raise CommandError(error("ERR Number of keys can't be greater than number of args"))
    rest = argv[2 + n:]
    limit = 0
    if rest:
        if len(rest) != 2 or rest[0].upper() != b"LIMIT":
            raise CommandError(SYNTAX)
        limit = parse_int(rest[1])
        if limit < 0:
            raise CommandError(error("ERR LIMIT can't be negative"))
    size = len(_combine(c, argv[2: 2 + n], "inter"))
    return integer(min(size, limit) if limit else size)


# SSCAN key cursor [MATCH pattern] [COUNT count]
@command("sscan", arity=-3, flags="readonly", keys=(1, 1, 1), group="set")
def sscan(c: Any, argv: list[bytes]) -> bytes:
    """Incrementally iterate members."""
    cursor = parse_cursor(argv[2])
    match, count = parse_scan_args(argv, 3)
    members = lookup(c, argv[1], SET) or set()
    nxt, batch = scan_members(members, len(members), cursor, count)
    return scan_reply(nxt, [m for m in batch if match is None or match(m)])
