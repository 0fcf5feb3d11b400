"""List commands (Redis' t_list.c), including the blocking pops BLPOP/BRPOP/BLMOVE.

Lists are ``collections.deque[bytes]``: O(1) at both ends, which is what queues use;
indexing the middle is O(n) as in Redis' quicklist. A push wakes clients parked on the key
(``Keyspace.pushed``); a blocking pop that finds nothing returns ``Block`` and the shell
re-runs it when the key is signalled. Blocking pops propagate as the plain pop they
performed, so the AOF and replicas never see a blocking command.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from hld.core.kv import memory
from hld.core.kv.client import Block
from hld.core.kv.replies import (
    NO_SUCH_KEY,
    SYNTAX,
    TIMEOUT_NEGATIVE,
    TIMEOUT_NOT_FLOAT,
    CommandError,
    parse_int,
)
from hld.core.resp.serializer import (
    NULL3,
    NULL_ARRAY,
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
from hld.store.commands._typed import drop_if_empty, lookup
from hld.store.limits import BLOCK_TIMEOUT_S_MAX

LIST = deque


def _null(c: Any) -> bytes:
    return NULL3 if c.proto == 3 else NULL_BULK


def _null_array(c: Any) -> bytes:
    return NULL3 if c.proto == 3 else NULL_ARRAY


def _push(c: Any, key: bytes, values: list[bytes], left: bool, only_existing: bool) -> bytes:
    lst = lookup(c, key, LIST, read=False)
    if lst is None:
        if only_existing:
            return ZERO
        lst = LIST()
        c.db.set(key, lst)
    if left:
        lst.extendleft(values)
    else:
        lst.extend(values)
    c.db.grew(key, sum(memory.list_element(v) for v in values))
    c.db.pushed(key)
    return integer(len(lst))


# LPUSH key element [element ...]
@command("lpush", arity=-3, flags="write denyoom fast", keys=(1, 1, 1), group="list")
def lpush(c: Any, argv: list[bytes]) -> bytes:
    """Prepend elements."""
    return _push(c, argv[1], argv[2:], True, False)


# RPUSH key element [element ...]
@command("rpush", arity=-3, flags="write denyoom fast", keys=(1, 1, 1), group="list")
def rpush(c: Any, argv: list[bytes]) -> bytes:
    """Append elements."""
    return _push(c, argv[1], argv[2:], False, False)


# LPUSHX key element [element ...]
@command("lpushx", arity=-3, flags="write denyoom fast", keys=(1, 1, 1), group="list")
def lpushx(c: Any, argv: list[bytes]) -> bytes:
    """Prepend elements only if the list exists."""
    return _push(c, argv[1], argv[2:], True, True)


# RPUSHX key element [element ...]
@command("rpushx", arity=-3, flags="write denyoom fast", keys=(1, 1, 1), group="list")
def rpushx(c: Any, argv: list[bytes]) -> bytes:
    """Append elements only if the list exists."""
    return _push(c, argv[1], argv[2:], False, True)


def _pop_n(c: Any, key: bytes, lst: deque[bytes], count: int, left: bool) -> list[bytes]:
    pop = lst.popleft if left else lst.pop
    out = [pop() for _ in range(min(count, len(lst)))]
    c.db.grew(key, -sum(memory.list_element(v) for v in out))
    drop_if_empty(c, key, lst)
    return out


def _pop(c: Any, argv: list[bytes], left: bool) -> bytes:
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    count = None
    if len(argv) == 3:
        count = parse_int(argv[2], error("ERR value is out of range, must be positive"))
        if count < 0:
            raise CommandError(error("ERR value is out of range, must be positive"))
    lst = lookup(c, argv[1], LIST, read=False)
    if lst is None:
        return _null(c) if count is None else _null_array(c)
    if count is None:
        return bulk(_pop_n(c, argv[1], lst, 1, left)[0])
    return bulks(_pop_n(c, argv[1], lst, count, left))


# LPOP key [count]
@command("lpop", arity=-2, flags="write fast", keys=(1, 1, 1), group="list")
def lpop(c: Any, argv: list[bytes]) -> bytes:
    """Remove and return the first elements."""
    return _pop(c, argv, True)


# RPOP key [count]
@command("rpop", arity=-2, flags="write fast", keys=(1, 1, 1), group="list")
def rpop(c: Any, argv: list[bytes]) -> bytes:
    """Remove and return the last elements."""
    return _pop(c, argv, False)


# LLEN key
@command("llen", arity=2, flags="readonly fast", keys=(1, 1, 1), group="list")
def llen(c: Any, argv: list[bytes]) -> bytes:
    """The length of a list."""
    return integer(len(lookup(c, argv[1], LIST) or ()))


def _bounds(start: int, stop: int, length: int) -> tuple[int, int] | None:
    if start < 0:
        start = max(length + start, 0)
    if stop < 0:
        stop = length + stop
    stop = min(stop, length - 1)
    if start > stop or start >= length:
        return None
    return start, stop


# LRANGE key start stop
@command("lrange", arity=4, flags="readonly", keys=(1, 1, 1), group="list")
def lrange(c: Any, argv: list[bytes]) -> bytes:
    """A range of elements."""
    start, stop = parse_int(argv[2]), parse_int(argv[3])
    lst = lookup(c, argv[1], LIST)
    if lst is None:
        return array_header(0)
    span = _bounds(start, stop, len(lst))
    if span is None:
        return array_header(0)
    if span[0] == 0 and span[1] == len(lst) - 1:
        return bulks(list(lst))
    lst.rotate(-span[0])  # deque slicing: rotate, take, rotate back (C speed)
    try:
        items = [lst[i] for i in range(span[1] - span[0] + 1)]
    finally:
        lst.rotate(span[0])
    return bulks(items)


# LINDEX key index
@command("lindex", arity=3, flags="readonly", keys=(1, 1, 1), group="list")
def lindex(c: Any, argv: list[bytes]) -> bytes:
    """The element at an index."""
    index = parse_int(argv[2])
    lst = lookup(c, argv[1], LIST)
    if lst is None or not -len(lst) <= index < len(lst):
        return _null(c)
    return bulk(lst[index])


# LSET key index element
@command("lset", arity=4, flags="write denyoom", keys=(1, 1, 1), group="list")
def lset(c: Any, argv: list[bytes]) -> bytes:
    """Set the element at an index."""
    index = parse_int(argv[2])
    lst = lookup(c, argv[1], LIST, read=False)
    if lst is None:
        raise CommandError(NO_SUCH_KEY)
    if not -len(lst) <= index < len(lst):
        raise CommandError(error("ERR index out of range"))
    old = lst[index]
    lst[index] = argv[3]
    c.db.grew(argv[1], len(argv[3]) - len(old))
    return OK


# LREM key count element
@command("lrem", arity=4, flags="write", keys=(1, 1, 1), group="list")
def lrem(c: Any, argv: list[bytes]) -> bytes:
    """Remove occurrences of an element (count > 0 from head, < 0 from tail, 0 all)."""
    count = parse_int(argv[2])
    element = argv[3]
    lst = lookup(c, argv[1], LIST, read=False)
    if lst is None:
        return ZERO
    items = list(lst)
    limit = abs(count) if count else len(items)
    removed = 0
    order = range(len(items)) if count >= 0 else range(len(items) - 1, -1, -1)
    keep = [True] * len(items)
    for i in order:
        if removed >= limit:
            break
        if items[i] == element:
            keep[i] = False
            removed += 1
    if removed:
        lst.clear()
        lst.extend(x for x, k in zip(items, keep, strict=True) if k)
        c.db.grew(argv[1], -removed * memory.list_element(element))
        drop_if_empty(c, argv[1], lst)
    return integer(removed)


# LTRIM key start stop
@command("ltrim", arity=4, flags="write", keys=(1, 1, 1), group="list")
def ltrim(c: Any, argv: list[bytes]) -> bytes:
    """Keep only a range of elements."""
    start, stop = parse_int(argv[2]), parse_int(argv[3])
    lst = lookup(c, argv[1], LIST, read=False)
    if lst is None:
        return OK
    span = _bounds(start, stop, len(lst))
    items = [] if span is None else list(lst)[span[0]: span[1] + 1]
    before = sum(memory.list_element(v) for v in lst)
    lst.clear()
    lst.extend(items)
    c.db.grew(argv[1], sum(memory.list_element(v) for v in items) - before)
    drop_if_empty(c, argv[1], lst)
    return OK


# LINSERT key BEFORE|AFTER pivot element
@command("linsert", arity=5, flags="write denyoom", keys=(1, 1, 1), group="list")
def linsert(c: Any, argv: list[bytes]) -> bytes:
    """Insert an element before or after a pivot."""
    where = argv[2].upper()
    if where not in (b"BEFORE", b"AFTER"):
        raise CommandError(SYNTAX)
    lst = lookup(c, argv[1], LIST, read=False)
    if lst is None:
        return ZERO
    try:
        i = lst.index(argv[3])
    except ValueError:
        return integer(-1)
    lst.insert(i if where == b"BEFORE" else i + 1, argv[4])
    c.db.grew(argv[1], memory.list_element(argv[4]))
    c.db.pushed(argv[1])
    return integer(len(lst))


# LPOS key element [RANK rank] [COUNT num] [MAXLEN len]
@command("lpos", arity=-3, flags="readonly", keys=(1, 1, 1), group="list")
def lpos(c: Any, argv: list[bytes]) -> bytes:
    """Positions of an element."""
    rank, count, maxlen = 1, None, 0
    i = 3
    while i < len(argv):
        opt = argv[i].upper()
        if i + 1 >= len(argv):
            raise CommandError(SYNTAX)
        value = parse_int(argv[i + 1])
        if opt == b"RANK":
            if value == 0:
                raise CommandError(error(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the "
                    "second ... or use negative to start from the end of the list"))
            rank = value
        elif opt == b"COUNT":
            if value < 0:
                raise CommandError(error("ERR COUNT can't be negative"))
            count = value
        elif opt == b"MAXLEN":
            if value < 0:
                raise CommandError(error("ERR MAXLEN can't be negative"))
            maxlen = value
        else:
            raise CommandError(SYNTAX)
        i += 2
    lst = lookup(c, argv[1], LIST)
    items = list(lst or ())
    indices = range(len(items)) if rank > 0 else range(len(items) - 1, -1, -1)
    found: list[int] = []
    skip = abs(rank) - 1
    want = 1 if count is None else (count or len(items))
    for n, idx in enumerate(indices):
        if maxlen and n >= maxlen:
            break
        if items[idx] == argv[2]:
            if skip:
                skip -= 1
                continue
            found.append(idx)
            if len(found) >= want:
                break
    if count is None:
        return integer(found[0]) if found else _null(c)
    return array_header(len(found)) + b"".join(integer(x) for x in found)


def _move(c: Any, src: bytes, dst: bytes, from_left: bool, to_left: bool) -> bytes | None:
    """LMOVE's core: None when the source is missing, whatever the destination holds.

    The destination's type is checked only when there is an element to move, and before
    it is popped: a WRONGTYPE destination leaves the source as it was (Redis' order).
    """
    lst = lookup(c, src, LIST, read=False)
    if lst is None:
        return None
    return _move_from(c, lst, src, dst, from_left=from_left, to_left=to_left)


def _move_from(c: Any, lst: deque[bytes], src: bytes, dst: bytes, *, from_left: bool,
               to_left: bool) -> bytes:
    target = lookup(c, dst, LIST, read=False)
    value = lst.popleft() if from_left else lst.pop()
    c.db.grew(src, -memory.list_element(value))
    drop_if_empty(c, src, lst)
    if target is None:
        target = LIST()
        c.db.set(dst, target)
    if to_left:
        target.appendleft(value)
    else:
        target.append(value)
    c.db.grew(dst, memory.list_element(value))
    c.db.pushed(dst)
    return bytes(value)


def _side(raw: bytes) -> bool:
    side = raw.upper()
    if side not in (b"LEFT", b"RIGHT"):
        raise CommandError(SYNTAX)
    return side == b"LEFT"


# LMOVE source destination LEFT|RIGHT LEFT|RIGHT
@command("lmove", arity=5, flags="write denyoom", keys=(1, 2, 1), group="list")
def lmove(c: Any, argv: list[bytes]) -> bytes:
    """Pop from one list and push to another, atomically."""
    value = _move(c, argv[1], argv[2], _side(argv[3]), _side(argv[4]))
    return _null(c) if value is None else bulk(value)


# RPOPLPUSH source destination
@command("rpoplpush", arity=3, flags="write denyoom", keys=(1, 2, 1), group="list")
def rpoplpush(c: Any, argv: list[bytes]) -> bytes:
    """Pop the tail of one list and push it to the head of another."""
    value = _move(c, argv[1], argv[2], False, True)
    return _null(c) if value is None else bulk(value)


def parse_timeout(raw: bytes) -> float:
    """A blocking timeout in seconds (0: forever); Redis' errors."""
    try:
        timeout = float(raw)
    except ValueError:
        raise CommandError(TIMEOUT_NOT_FLOAT) from None
    if timeout != timeout or timeout > BLOCK_TIMEOUT_S_MAX:  # noqa: PLR0124 - NaN test
        raise CommandError(TIMEOUT_NOT_FLOAT)
    if timeout < 0:
        raise CommandError(TIMEOUT_NEGATIVE)
    return timeout


def _bpop(c: Any, argv: list[bytes], left: bool) -> bytes | Block:
    timeout = parse_timeout(argv[-1])
    keys = argv[1:-1]
    for key in keys:
        try:
            lst = lookup(c, key, LIST, read=False)
        except CommandError:
            if not c.blocked:
                raise
            continue  # a re-run: a key overwritten by another type is waited on, as Redis
        if lst:
            value = _pop_n(c, key, lst, 1, left)[0]
            c.propagate = [[b"LPOP" if left else b"RPOP", key]]
            return array_header(2) + bulk(key) + bulk(value)
    return Block(tuple(keys), timeout)


# BLPOP key [key ...] timeout
@command("blpop", arity=-3, flags="write blocking", keys=(1, -2, 1), group="list")
def blpop(c: Any, argv: list[bytes]) -> bytes | Block:
    """Pop the first element of the first non-empty list, waiting up to timeout."""
    return _bpop(c, argv, True)


# BRPOP key [key ...] timeout
@command("brpop", arity=-3, flags="write blocking", keys=(1, -2, 1), group="list")
def brpop(c: Any, argv: list[bytes]) -> bytes | Block:
    """Pop the last element of the first non-empty list, waiting up to timeout."""
    return _bpop(c, argv, False)


def _blocking_move(c: Any, src: bytes, dst: bytes, *, from_left: bool, to_left: bool,
                   timeout: float) -> bytes | Block:
    """BLMOVE/BRPOPLPUSH, first run or re-run after a wake-up, as redis-server 7.0.

    A source of another type is WRONGTYPE at once, but a parked client whose source was
    overwritten by another type keeps waiting. The destination is checked only when an
    element is there to move (so a missing source blocks whatever the destination
    holds); a parked client woken while its destination is not a list gets WRONGTYPE
    and the element stays in the source. The timeout reply is the null array (Redis
    answers a timed-out BLMOVE like a timed-out BLPOP); inside MULTI, where nothing
    blocks, the null bulk string, as LMOVE would answer.
    """
    try:
        lst = lookup(c, src, LIST, read=False)
    except CommandError:
        if not c.blocked:
            raise
        lst = None  # a re-run: the source became another type; wait on, as Redis
    if lst is None:
        return Block((src,), timeout, in_multi=_null(c))
    return bulk(_move_from(c, lst, src, dst, from_left=from_left, to_left=to_left))


# BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
@command("blmove", arity=6, flags="write denyoom blocking", keys=(1, 2, 1), group="list")
def blmove(c: Any, argv: list[bytes]) -> bytes | Block:
    """LMOVE, waiting up to timeout for the source to have an element."""
    from_left, to_left = _side(argv[3]), _side(argv[4])
    reply = _blocking_move(c, argv[1], argv[2], from_left=from_left, to_left=to_left,
                           timeout=parse_timeout(argv[5]))
    if type(reply) is bytes:
        c.propagate = [[b"LMOVE", argv[1], argv[2], argv[3], argv[4]]]
    return reply


# BRPOPLPUSH source destination timeout
@command("brpoplpush", arity=4, flags="write denyoom blocking", keys=(1, 2, 1), group="list")
def brpoplpush(c: Any, argv: list[bytes]) -> bytes | Block:
    """RPOPLPUSH, waiting up to timeout."""
    reply = _blocking_move(c, argv[1], argv[2], from_left=False, to_left=True,
                           timeout=parse_timeout(argv[3]))
    if type(reply) is bytes:
        c.propagate = [[b"RPOPLPUSH", argv[1], argv[2]]]
    return reply
