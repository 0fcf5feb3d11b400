"""Persistence commands: SAVE, BGSAVE, BGREWRITEAOF, LASTSAVE.

They reach the process's ``hld.store.persistence.Persistence`` through the shell
(``c.server.persistence``); an engine running in-process without one answers an error.
"""

from __future__ import annotations

from typing import Any

from hld.core.kv.replies import CommandError
from hld.core.resp.serializer import OK, error, integer, simple
from hld.store.commands import command


def _persistence(c: Any) -> Any:
    found = getattr(c.server, "persistence", None)
    if found is None:
        raise CommandError(error("ERR persistence is not available in this process"))
    return found


# SAVE
@command("save", arity=1, flags="admin noscript no_multi", group="server",
         summary="Synchronously saves the database(s) to disk.")
def save(c: Any, argv: list[bytes]) -> bytes:
    persistence = _persistence(c)
    if persistence.child is not None and persistence.child.kind == "rdb":
        return error("ERR Background save already in progress")
    try:
        persistence.save()
    except OSError as exc:
        return error(f"ERR saving failed: {exc.strerror}")
    return OK


# BGSAVE [SCHEDULE]
@command("bgsave", arity=-1, flags="admin noscript", group="server",
         summary="Asynchronously saves the database(s) to disk.")
def bgsave(c: Any, argv: list[bytes]) -> bytes:
    persistence = _persistence(c)
    if persistence.child is not None:
        if persistence.child.kind == "rdb":
            return error("ERR Background save already in progress")
        return error("ERR Another child process is active (AOF?): can't BGSAVE right now.")
    if not persistence.bgsave():
        return error("ERR Background save failed to start (see the server log)")
    return simple("Background saving started")


# BGREWRITEAOF
@command("bgrewriteaof", arity=1, flags="admin noscript", group="server",
         summary="Asynchronously rewrites the append-only file to disk.")
def bgrewriteaof(c: Any, argv: list[bytes]) -> bytes:
    persistence = _persistence(c)
    if persistence.child is not None and persistence.child.kind == "aof":
        return error("ERR Background append only file rewriting already in progress")
    scheduled = persistence.child is not None
    persistence.bgrewriteaof()
    if scheduled:
        return simple("Background append only file rewriting scheduled")
    return simple("Background append only file rewriting started")


# LASTSAVE
@command("lastsave", arity=1, flags="loading stale fast", group="server",
         summary="Returns the Unix timestamp of the last successful save to disk.")
def lastsave(c: Any, argv: list[bytes]) -> bytes:
    return integer(_persistence(c).last_save_s)
