"""CL.THROTTLE natively: redis-cell's command, reply shape and arithmetic.

``CL.THROTTLE key max_burst count_per_period period [quantity]`` replies
``[limited, limit, remaining, retry_after_s, reset_after_s]``. The decision is
``hld.core.limit.gcra.cl_throttle`` (GCRA in integer nanoseconds, as redis-cell computes
it); the key holds the theoretical arrival time as a decimal string with a TTL, exactly
what redis-cell stores, so the key can be inspected and replicated like any string. The
write is propagated as ``SET key tat PXAT deadline`` so replicas and the AOF need no
clock of their own.
"""

from __future__ import annotations

from typing import Any

from hld.core.kv.replies import NOT_INTEGER, WRONGTYPE, CommandError, parse_int
from hld.core.limit.gcra import cl_throttle
from hld.core.resp.serializer import array_header, error, integer
from hld.store.commands import command

NS_PER_MS = 1_000_000


# CL.THROTTLE key max_burst count_per_period period [quantity]
@command("cl.throttle", arity=-5, flags="write denyoom fast", keys=(1, 1, 1),
         group="ratelimit", since="redis-cell 0.3")
def cl_throttle_command(c: Any, argv: list[bytes]) -> bytes:
    """Rate-limit a key with GCRA (redis-cell's CL.THROTTLE)."""
    if len(argv) > 6:
        raise CommandError(error("ERR wrong number of arguments for 'cl.throttle' command"))
    numbers = [parse_int(a, NOT_INTEGER) for a in argv[2:]]
    quantity = numbers[3] if len(numbers) == 4 else 1
    key = argv[1]
    db = c.db
    stored = db.peek(key)
    tat_ns: int | None = None
    if stored is not None:
        if type(stored) is not bytes:
            raise CommandError(WRONGTYPE)
        try:
            tat_ns = int(stored)
        except ValueError:
            raise CommandError(NOT_INTEGER) from None
    now_ns = db.now_ms * NS_PER_MS
    try:
        outcome = cl_throttle(tat_ns, now_ns, numbers[0], numbers[1], numbers[2],
                              quantity=quantity)
    except (ValueError, TypeError) as exc:
        raise CommandError(error(f"ERR {exc}")) from None
    if not outcome.limited:
        if outcome.ttl_ns > 0:
            value = b"%d" % outcome.tat_ns
            at_ms = db.now_ms + -(-outcome.ttl_ns // NS_PER_MS)
            db.set(key, value)
            db.set_expire(key, at_ms)
            c.propagate = [[b"SET", key, value, b"PXAT", b"%d" % at_ms]]
        elif stored is not None:
            db.delete(key)
            c.propagate = [[b"DEL", key]]
    return array_header(5) + b"".join(integer(n) for n in outcome.reply())
