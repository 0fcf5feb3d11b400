"""MULTI/EXEC/DISCARD/WATCH/UNWATCH: optimistic transactions (Redis' multi.c).

Queuing happens in the engine (``Engine._execute_slow``); EXEC runs the queue without
interleaving (the shell is single-threaded) unless a watched key changed since WATCH,
in which case it answers the null array. A command with a wrong arity or an unknown name
inside MULTI poisons the transaction (EXECABORT), as in Redis.
"""

from __future__ import annotations

from typing import Any

from hld.core.resp.serializer import OK, error
from hld.store.commands import command


# MULTI
@command("multi", arity=1, flags="noscript loading stale fast allow_busy", group="transactions")
def multi(c: Any, argv: list[bytes]) -> bytes:
    """Start a transaction."""
    if c.multi is not None:
        return error("ERR MULTI calls can not be nested")
    c.multi = []
    c.refresh()
    return OK


# EXEC
@command("exec", arity=1, flags="noscript loading stale", group="transactions")
def exec_(c: Any, argv: list[bytes]) -> bytes:
    """Run the queued commands."""
    if c.multi is None:
        return error("ERR EXEC without MULTI")
    reply: bytes = c.engine.exec_transaction(c)
    return reply


# DISCARD
@command("discard", arity=1, flags="noscript loading stale fast allow_busy",
         group="transactions")
def discard(c: Any, argv: list[bytes]) -> bytes:
    """Drop the queued commands."""
    if c.multi is None:
        return error("ERR DISCARD without MULTI")
    c.engine.discard_transaction(c)
    return OK


# WATCH key [key ...]
@command("watch", arity=-2, flags="noscript loading stale fast allow_busy", keys=(1, -1, 1),
         group="transactions")
def watch(c: Any, argv: list[bytes]) -> bytes:
    """Abort the next EXEC if any of these keys changes."""
    if c.multi is not None:
        return error("ERR WATCH inside MULTI is not allowed")
    for key in argv[1:]:
        c.engine.watch(c, key)
    return OK


# UNWATCH
@command("unwatch", arity=1, flags="noscript loading stale fast allow_busy",
         group="transactions")
def unwatch(c: Any, argv: list[bytes]) -> bytes:
    """Forget all watched keys."""
    c.engine.unwatch(c)
    return OK
