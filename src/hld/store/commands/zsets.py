"""Sorted set commands (Redis' t_zset.c): leaderboards, priority queues, time indexes.

Values are ``hld.core.kv.zset.ZSet``. Scores are replied as Redis 7.0 prints them
(``%.17g``; a bulk string in RESP2, a double in RESP3). Ranges by rank, score (with
``(`` exclusive bounds and ``-inf``/``+inf``) and lex (``[a``, ``(a``, ``-``, ``+``).
"""

from __future__ import annotations

import math
from typing import Any

from hld.core.kv import memory
from hld.core.kv.client import Block
from hld.core.kv.replies import NOT_FLOAT, SYNTAX, CommandError, parse_float, parse_int
from hld.core.kv.scan import scan_members
from hld.core.kv.zset import ZSet
from hld.core.resp.serializer import (
    NULL3,
    NULL_BULK,
    ZERO,
    array_header,
    bulk,
    error,
    integer,
)
from hld.store.commands import command
from hld.store.commands._typed import drop_if_empty, lookup, score
from hld.store.commands.hashes import parse_cursor, parse_scan_args, scan_reply
from hld.store.commands.lists import parse_timeout

BAD_RANGE = error("ERR min or max is not a float")
BAD_LEX = error("ERR min or max not valid string range item")


def _null(c: Any) -> bytes:
    return NULL3 if c.proto == 3 else NULL_BULK


def _parse_bound(raw: bytes) -> tuple[float, bool]:
    excl = raw.startswith(b"(")
    text = raw[1:] if excl else raw
    low = text.lower()
    if low == b"-inf":
        return -math.inf, excl
    if low in (b"+inf", b"inf"):
        return math.inf, excl
    try:
        value = float(text)
    except ValueError:
        raise CommandError(BAD_RANGE) from None
    if value != value:  # noqa: PLR0124 - NaN test
        raise CommandError(BAD_RANGE)
    return value, excl


def _parse_lex(raw: bytes) -> tuple[bytes | None, bool, int]:
    """(value, exclusive, infinity sign): '-' is (None, _, -1), '+' is (None, _, 1)."""
    if raw == b"-":
        return None, False, -1
    if raw == b"+":
        return None, False, 1
    if raw[:1] == b"[":
        return raw[1:], False, 0
    if raw[:1] == b"(":
        return raw[1:], True, 0
    raise CommandError(BAD_LEX)


def _in_lex(member: bytes, low: tuple[bytes | None, bool, int],
            high: tuple[bytes | None, bool, int]) -> bool:
    lv, lx, linf = low
    hv, hx, hinf = high
    if linf == 1 or hinf == -1:
        return False
    if lv is not None and (member < lv or (lx and member == lv)):
        return False
    return not (hv is not None and (member > hv or (hx and member == hv)))


def _entries_reply(c: Any, entries: list[tuple[float, bytes]], with_scores: bool) -> bytes:
    if not with_scores:
        return array_header(len(entries)) + b"".join(bulk(m) for _, m in entries)
    if c.proto == 3:
        return array_header(len(entries)) + b"".join(
            b"*2\r\n" + bulk(m) + score(s, 3) for s, m in entries)
    return array_header(2 * len(entries)) + b"".join(
        bulk(m) + score(s, 2) for s, m in entries)


# ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]
@command("zadd", arity=-4, flags="write denyoom fast", keys=(1, 1, 1), group="sorted-set")
def zadd(c: Any, argv: list[bytes]) -> bytes:
    """Add members with scores, or update their scores."""
    nx = xx = gt = lt = ch = incr = False
    i = 2
    while i < len(argv):
        opt = argv[i].upper()
        if opt == b"NX":
            nx = True
        elif opt == b"XX":
            xx = True
        elif opt == b"GT":
            gt = True
        elif opt == b"LT":
            lt = True
        elif opt == b"CH":
            ch = True
        elif opt == b"INCR":
            incr = True
        else:
            break
        i += 1
    pairs = argv[i:]
    if not pairs or len(pairs) % 2:
        raise CommandError(SYNTAX)
    if nx and xx:
        raise CommandError(error("ERR XX and NX options at the same time are not compatible"))
    if (gt and nx) or (lt and nx) or (gt and lt):
        raise CommandError(error(
            "ERR GT, LT, and/or NX options at the same time are not compatible"))
    if incr and len(pairs) != 2:
        raise CommandError(error("ERR INCR option supports a single increment-element pair"))
    scores = [parse_float(pairs[j], NOT_FLOAT) for j in range(0, len(pairs), 2)]
    key = argv[1]
    z = lookup(c, key, ZSet, read=False)
    if z is None:
        if xx:
            return _null(c) if incr else ZERO
        z = ZSet()
        c.db.set(key, z)
    added = changed = 0
    delta = 0
    result: float | None = None
    for j, given in enumerate(scores):
        member = pairs[2 * j + 1]
        new = given
        old = z.score(member)
        if (nx and old is not None) or (xx and old is None):
            continue
        if incr:
            new = (old or 0.0) + new
            if new != new:  # noqa: PLR0124 - NaN test
                raise CommandError(error("ERR resulting score is not a number (NaN)"))
        if old is not None and ((gt and new <= old) or (lt and new >= old)):
            continue
        result = new
        if old is None:
            z.add(member, new)
            added += 1
            delta += memory.zset_member(member)
        elif old != new:
            z.add(member, new)
            changed += 1
    if added or changed:
        c.db.grew(key, delta)
    drop_if_empty(c, key, z)
    if incr:
        return _null(c) if result is None else score(result, c.proto)
    return integer(added + changed if ch else added)


# ZINCRBY key increment member
@command("zincrby", arity=4, flags="write denyoom fast", keys=(1, 1, 1), group="sorted-set")
def zincrby(c: Any, argv: list[bytes]) -> bytes:
    """Increment a member's score."""
    return zadd(c, [b"ZADD", argv[1], b"INCR", argv[2], argv[3]])


# ZSCORE key member
@command("zscore", arity=3, flags="readonly fast", keys=(1, 1, 1), group="sorted-set")
def zscore(c: Any, argv: list[bytes]) -> bytes:
    """A member's score."""
    z = lookup(c, argv[1], ZSet)
    s = None if z is None else z.score(argv[2])
    return _null(c) if s is None else score(s, c.proto)


# ZMSCORE key member [member ...]
@command("zmscore", arity=-3, flags="readonly fast", keys=(1, 1, 1), group="sorted-set")
def zmscore(c: Any, argv: list[bytes]) -> bytes:
    """Scores of several members."""
    z = lookup(c, argv[1], ZSet) or ZSet()
    parts = [array_header(len(argv) - 2)]
    for m in argv[2:]:
        s = z.score(m)
        parts.append(_null(c) if s is None else score(s, c.proto))
    return b"".join(parts)


# ZCARD key
@command("zcard", arity=2, flags="readonly fast", keys=(1, 1, 1), group="sorted-set")
def zcard(c: Any, argv: list[bytes]) -> bytes:
    """The number of members."""
    return integer(len(lookup(c, argv[1], ZSet) or ()))


# ZREM key member [member ...]
@command("zrem", arity=-3, flags="write fast", keys=(1, 1, 1), group="sorted-set")
def zrem(c: Any, argv: list[bytes]) -> bytes:
    """Remove members."""
    z = lookup(c, argv[1], ZSet, read=False)
    if z is None:
        return ZERO
    removed = [m for m in argv[2:] if z.remove(m)]
    if removed:
        c.db.grew(argv[1], -sum(memory.zset_member(m) for m in removed))
        drop_if_empty(c, argv[1], z)
    return integer(len(removed))


def _rank(c: Any, argv: list[bytes], rev: bool) -> bytes:
    with_score = len(argv) == 4 and argv[3].upper() == b"WITHSCORE"
    if len(argv) > 4 or (len(argv) == 4 and not with_score):
        raise CommandError(SYNTAX)
    z = lookup(c, argv[1], ZSet)
    r = None if z is None else z.rank(argv[2])
    if r is None:
        return (NULL3 if c.proto == 3 else b"*-1\r\n") if with_score else _null(c)
    if rev:
        r = len(z) - 1 - r
    if with_score:
        return array_header(2) + integer(r) + score(z.score(argv[2]), c.proto)
    return integer(r)


# ZRANK key member [WITHSCORE]
@command("zrank", arity=-3, flags="readonly fast", keys=(1, 1, 1), group="sorted-set")
def zrank(c: Any, argv: list[bytes]) -> bytes:
    """A member's rank, lowest score first."""
    return _rank(c, argv, False)


# ZREVRANK key member [WITHSCORE]
@command("zrevrank", arity=-3, flags="readonly fast", keys=(1, 1, 1), group="sorted-set")
def zrevrank(c: Any, argv: list[bytes]) -> bytes:
    """A member's rank, highest score first."""
    return _rank(c, argv, True)


def _range(z: ZSet | None, by: str, start: bytes, stop: bytes, rev: bool,  # noqa: PLR0917
           limit: tuple[int, int] | None) -> list[tuple[float, bytes]]:
    """The entries ZRANGE selects, in reply order."""
    if by == "rank":
        lo, hi = parse_int(start), parse_int(stop)
        if z is None:
            return []
        n = len(z)
        if lo < 0:
            lo = max(n + lo, 0)
        if hi < 0:
            hi = n + hi
        hi = min(hi, n - 1)
        if lo > hi:
            return []
        if rev:
            entries = z.entries()
            return [entries[n - 1 - i] for i in range(lo, hi + 1)]
        return z.by_rank(lo, hi)
    if by == "score":
        low, high = (_parse_bound(stop), _parse_bound(start)) if rev else \
            (_parse_bound(start), _parse_bound(stop))
        if z is None:
            return []
        first, last = z.rank_range_by_score(low[0], low[1], high[0], high[1])
        selected = z.entries()[first:last]
    else:
        low_lex, high_lex = (_parse_lex(stop), _parse_lex(start)) if rev else \
            (_parse_lex(start), _parse_lex(stop))
        if z is None:
            return []
        selected = [e for e in z.entries() if _in_lex(e[1], low_lex, high_lex)]
    if rev:
        selected = selected[::-1]
    if limit is not None:
        offset, count = limit
        if offset < 0:
            return []
        selected = selected[offset:] if count < 0 else selected[offset: offset + count]
    return selected


def _zrange(c: Any, key: bytes, start: bytes, stop: bytes, opts: list[bytes],  # noqa: PLR0917
            by: str = "rank", rev: bool = False) -> tuple[list[tuple[float, bytes]], bool]:
    with_scores = False
    limit = None
    i = 0
    while i < len(opts):
        opt = opts[i].upper()
        if opt == b"BYSCORE" and by == "rank":
            by = "score"
        elif opt == b"BYLEX" and by == "rank":
            by = "lex"
        elif opt == b"REV":
            rev = True
        elif opt == b"WITHSCORES":
            with_scores = True
        elif opt == b"LIMIT" and i + 2 < len(opts):
            limit = (parse_int(opts[i + 1]), parse_int(opts[i + 2]))
            i += 2
        else:
            raise CommandError(SYNTAX)
        i += 1
    if limit is not None and by == "rank":
        raise CommandError(error("ERR syntax error, LIMIT is only supported in combination "
                                 "with either BYSCORE or BYLEX"))
    if with_scores and by == "lex":
        raise CommandError(error("ERR syntax error, WITHSCORES not supported in combination "
                                 "with BYLEX"))
    z = lookup(c, key, ZSet)
    return _range(z, by, start, stop, rev, limit), with_scores


# ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
@command("zrange", arity=-4, flags="readonly", keys=(1, 1, 1), group="sorted-set")
def zrange(c: Any, argv: list[bytes]) -> bytes:
    """Members in a range of ranks, scores or lex values."""
    entries, with_scores = _zrange(c, argv[1], argv[2], argv[3], argv[4:])
    return _entries_reply(c, entries, with_scores)


# ZREVRANGE key start stop [WITHSCORES]
@command("zrevrange", arity=-4, flags="readonly", keys=(1, 1, 1), group="sorted-set")
def zrevrange(c: Any, argv: list[bytes]) -> bytes:
    """Members by rank, highest score first."""
    entries, with_scores = _zrange(c, argv[1], argv[2], argv[3], argv[4:], rev=True)
    return _entries_reply(c, entries, with_scores)


# ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
@command("zrangebyscore", arity=-4, flags="readonly", keys=(1, 1, 1), group="sorted-set")
def zrangebyscore(c: Any, argv: list[bytes]) -> bytes:
    """Members with scores in a range."""
    entries, with_scores = _zrange(c, argv[1], argv[2], argv[3], argv[4:], by="score")
    return _entries_reply(c, entries, with_scores)


# ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
@command("zrevrangebyscore", arity=-4, flags="readonly", keys=(1, 1, 1), group="sorted-set")
def zrevrangebyscore(c: Any, argv: list[bytes]) -> bytes:
    """Members with scores in a range, highest first."""
    entries, with_scores = _zrange(c, argv[1], argv[2], argv[3], argv[4:], by="score",
                                   rev=True)
    return _entries_reply(c, entries, with_scores)


# ZRANGEBYLEX key min max [LIMIT offset count]
@command("zrangebylex", arity=-4, flags="readonly", keys=(1, 1, 1), group="sorted-set")
def zrangebylex(c: Any, argv: list[bytes]) -> bytes:
    """Members in a lexicographical range."""
    entries, _ = _zrange(c, argv[1], argv[2], argv[3], argv[4:], by="lex")
    return _entries_reply(c, entries, False)


# ZREVRANGEBYLEX key max min [LIMIT offset count]
@command("zrevrangebylex", arity=-4, flags="readonly", keys=(1, 1, 1), group="sorted-set")
def zrevrangebylex(c: Any, argv: list[bytes]) -> bytes:
    """Members in a lexicographical range, reversed."""
    entries, _ = _zrange(c, argv[1], argv[2], argv[3], argv[4:], by="lex", rev=True)
    return _entries_reply(c, entries, False)


# ZCOUNT key min max
@command("zcount", arity=4, flags="readonly fast", keys=(1, 1, 1), group="sorted-set")
def zcount(c: Any, argv: list[bytes]) -> bytes:
    """The number of members with scores in a range."""
    low, high = _parse_bound(argv[2]), _parse_bound(argv[3])
    z = lookup(c, argv[1], ZSet)
    if z is None:
        return ZERO
    first, last = z.rank_range_by_score(low[0], low[1], high[0], high[1])
    return integer(last - first)


# ZLEXCOUNT key min max
@command("zlexcount", arity=4, flags="readonly fast", keys=(1, 1, 1), group="sorted-set")
def zlexcount(c: Any, argv: list[bytes]) -> bytes:
    """The number of members in a lexicographical range."""
    low, high = _parse_lex(argv[2]), _parse_lex(argv[3])
    z = lookup(c, argv[1], ZSet)
    return integer(0 if z is None else sum(1 for _, m in z.entries() if _in_lex(m, low, high)))


def _pop(c: Any, key: bytes, count: int, lowest: bool) -> list[tuple[float, bytes]]:
    z = lookup(c, key, ZSet, read=False)
    if z is None:
        return []
    out = []
    for _ in range(min(count, len(z))):
        member, s = z.pop(lowest)
        out.append((s, member))
    c.db.grew(key, -sum(memory.zset_member(m) for _, m in out))
    drop_if_empty(c, key, z)
    c.propagate = [[b"ZREM", key, *(m for _, m in out)]] if out else None
    return out


def _zpop(c: Any, argv: list[bytes], lowest: bool) -> bytes:
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    count = 1
    if len(argv) == 3:
        count = parse_int(argv[2], error("ERR value is out of range, must be positive"))
        if count < 0:
            raise CommandError(error("ERR value is out of range, must be positive"))
    out = _pop(c, argv[1], count, lowest)
    if c.proto == 3 and len(argv) == 3:
        return array_header(len(out)) + b"".join(
            b"*2\r\n" + bulk(m) + score(s, 3) for s, m in out)
    if c.proto == 3:
        return b"*0\r\n" if not out else b"*2\r\n" + bulk(out[0][1]) + score(out[0][0], 3)
    return _entries_reply(c, out, True)


# ZPOPMIN key [count]
@command("zpopmin", arity=-2, flags="write fast", keys=(1, 1, 1), group="sorted-set")
def zpopmin(c: Any, argv: list[bytes]) -> bytes:
    """Remove and return the lowest-scored members."""
    return _zpop(c, argv, True)


# ZPOPMAX key [count]
@command("zpopmax", arity=-2, flags="write fast", keys=(1, 1, 1), group="sorted-set")
def zpopmax(c: Any, argv: list[bytes]) -> bytes:
    """Remove and return the highest-scored members."""
    return _zpop(c, argv, False)


def _bzpop(c: Any, argv: list[bytes], lowest: bool) -> bytes | Block:
    timeout = parse_timeout(argv[-1])
    for key in argv[1:-1]:
        try:
            out = _pop(c, key, 1, lowest)
        except CommandError:
            if not c.blocked:
                raise
            continue  # a re-run: a key overwritten by another type is waited on, as Redis
        if out:
            s, m = out[0]
            return array_header(3) + bulk(key) + bulk(m) + score(s, c.proto)
    return Block(tuple(argv[1:-1]), timeout)


# BZPOPMIN key [key ...] timeout
@command("bzpopmin", arity=-3, flags="write blocking fast", keys=(1, -2, 1),
         group="sorted-set")
def bzpopmin(c: Any, argv: list[bytes]) -> bytes | Block:
    """ZPOPMIN on the first non-empty key, waiting up to timeout."""
    return _bzpop(c, argv, True)


# BZPOPMAX key [key ...] timeout
@command("bzpopmax", arity=-3, flags="write blocking fast", keys=(1, -2, 1),
         group="sorted-set")
def bzpopmax(c: Any, argv: list[bytes]) -> bytes | Block:
    """ZPOPMAX on the first non-empty key, waiting up to timeout."""
    return _bzpop(c, argv, False)


def _remrange(c: Any, key: bytes, entries: list[tuple[float, bytes]]) -> bytes:
    z = lookup(c, key, ZSet, read=False)
    if z is None or not entries:
        return ZERO
    for _, m in list(entries):
        z.remove(m)
    c.db.grew(key, -sum(memory.zset_member(m) for _, m in entries))
    drop_if_empty(c, key, z)
    return integer(len(entries))


# ZREMRANGEBYRANK key start stop
@command("zremrangebyrank", arity=4, flags="write", keys=(1, 1, 1), group="sorted-set")
def zremrangebyrank(c: Any, argv: list[bytes]) -> bytes:
    """Remove members in a range of ranks."""
    return _remrange(c, argv[1], list(_range(lookup(c, argv[1], ZSet, read=False), "rank",
                                             argv[2], argv[3], False, None)))


# ZREMRANGEBYSCORE key min max
@command("zremrangebyscore", arity=4, flags="write", keys=(1, 1, 1), group="sorted-set")
def zremrangebyscore(c: Any, argv: list[bytes]) -> bytes:
    """Remove members with scores in a range."""
    return _remrange(c, argv[1], list(_range(lookup(c, argv[1], ZSet, read=False), "score",
                                             argv[2], argv[3], False, None)))


# ZREMRANGEBYLEX key min max
@command("zremrangebylex", arity=4, flags="write", keys=(1, 1, 1), group="sorted-set")
def zremrangebylex(c: Any, argv: list[bytes]) -> bytes:
    """Remove members in a lexicographical range."""
    return _remrange(c, argv[1], list(_range(lookup(c, argv[1], ZSet, read=False), "lex",
                                             argv[2], argv[3], False, None)))


def _aggregate_store(c: Any, argv: list[bytes], inter: bool) -> bytes:
    name = "zinterstore" if inter else "zunionstore"
    n = parse_int(argv[2])
    if n <= 0:
        raise CommandError(error(f"ERR at least 1 input key is needed for '{name}' command"))
    if len(argv) < 3 + n:
        raise CommandError(SYNTAX)
    keys = argv[3: 3 + n]
    weights = [1.0] * n
    aggregate = b"SUM"
    i = 3 + n
    while i < len(argv):
        opt = argv[i].upper()
        if opt == b"WEIGHTS" and i + n < len(argv):
            weights = [parse_float(w, error("ERR weight value is not a float"))
                       for w in argv[i + 1: i + 1 + n]]
            i += n + 1
        elif opt == b"AGGREGATE" and i + 1 < len(argv) and \
                argv[i + 1].upper() in (b"SUM", b"MIN", b"MAX"):
            aggregate = argv[i + 1].upper()
            i += 2
        else:
            raise CommandError(SYNTAX)
    sources: list[dict[bytes, float]] = []
    for key in keys:
        value = c.db.get(key)
        if value is None:
            sources.append({})
        elif type(value) is ZSet:
            sources.append(value.scores)
        elif type(value) is set:
            sources.append(dict.fromkeys(value, 1.0))
        else:
            from hld.core.kv.replies import WRONGTYPE
            raise CommandError(WRONGTYPE)
    result: dict[bytes, float] = {}
    members = set(sources[0]) if inter else set().union(*sources)
    if inter:
        for s in sources[1:]:
            members &= set(s)
    for m in members:
        acc: float | None = None
        for s, w in zip(sources, weights, strict=True):
            if m not in s:
                continue
            v = s[m] * w
            if v != v:  # noqa: PLR0124 - inf * 0
                v = 0.0
            if acc is None:
                acc = v
            elif aggregate == b"SUM":
                acc = acc + v
                if acc != acc:  # noqa: PLR0124 - inf + -inf
                    acc = 0.0
            elif aggregate == b"MIN":
                acc = min(acc, v)
            else:
                acc = max(acc, v)
        result[m] = acc if acc is not None else 0.0
    dst = argv[1]
    c.db.delete(dst)
    if result:
        c.db.set(dst, ZSet.from_items(result.items()))
    else:
        c.db.dirty += 1
    return integer(len(result))


# ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]
@command("zunionstore", arity=-4, flags="write denyoom", keys=(1, 1, 1), group="sorted-set")
def zunionstore(c: Any, argv: list[bytes]) -> bytes:
    """Store the union of sorted sets."""
    return _aggregate_store(c, argv, False)


# ZINTERSTORE destination numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]
@command("zinterstore", arity=-4, flags="write denyoom", keys=(1, 1, 1), group="sorted-set")
def zinterstore(c: Any, argv: list[bytes]) -> bytes:
    """Store the intersection of sorted sets."""
    return _aggregate_store(c, argv, True)


def _member_of(entry: tuple[float, bytes]) -> bytes:
    return entry[1]


# ZSCAN key cursor [MATCH pattern] [COUNT count]
@command("zscan", arity=-3, flags="readonly", keys=(1, 1, 1), group="sorted-set")
def zscan(c: Any, argv: list[bytes]) -> bytes:
    """Incrementally iterate members and scores."""
    cursor = parse_cursor(argv[2])
    match, count = parse_scan_args(argv, 3)
    z = lookup(c, argv[1], ZSet)
    entries: list[tuple[float, bytes]] = []
    nxt = 0
    if z is not None:
        nxt, entries = scan_members(z.entries(), len(z), cursor, count, key=_member_of)
    out: list[bytes] = []
    for s, m in entries:
        if match is None or match(m):
            out += [m, (b"%.17g" % s)]
    return scan_reply(nxt, out)
