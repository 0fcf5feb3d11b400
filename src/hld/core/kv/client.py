"""Per-connection state, and the ``Block`` marker blocking commands return.

A ``Client`` is what every handler receives as its first argument. From it a handler
reaches the keyspace (``c.db``), the engine (``c.engine``: config, pub/sub, command
table, write listeners) and the shell's server object (``c.server``: None when the
engine runs in-process, the ``hld.store.server.StoreServer`` otherwise; replication's
ROLE/WAIT/REPLICAOF use it). ``c.proto`` (2 or 3) selects reply encodings.

Blocking (BLPOP, BRPOP, BLMOVE here; XREAD/XREADGROUP BLOCK and WAIT elsewhere): a
handler that cannot answer yet returns ``Block(keys, timeout_s)`` instead of bytes. The
shell parks the client (its later pipelined commands wait behind it), and re-runs the
same argv when one of ``keys`` is signalled (``Keyspace.pushed(key)`` after a push, or
``StoreServer.signal(key)`` for non-key events such as replica acknowledgements); a
re-run may block again. At the deadline the shell replies ``on_timeout`` (bytes, or a
callable giving bytes), or the null array when it is None. Inside MULTI/EXEC a blocking
command never blocks: the engine answers ``in_multi`` if set, else the timeout reply, at
once, as Redis does.
Handlers that need the deadline across re-runs keep it themselves (``c.block_deadline``
is set by the shell while the client is parked).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Reply = bytes


@dataclass(slots=True)
class Block:
    """Park the client until a key in ``keys`` is signalled or ``timeout_s`` passes."""

    keys: tuple[bytes, ...]
    timeout_s: float  # 0 means wait forever
    on_timeout: bytes | Callable[[], bytes] | None = None
    # The reply inside MULTI/EXEC (where nothing blocks) when it is not the timeout reply.
    in_multi: bytes | None = None


# Client flags, as CLIENT LIST prints them.
FLAG_MASTER = "M"  # the replication link from our primary: may write on a replica
FLAG_REPLICA = "S"
FLAG_PUBSUB = "P"
FLAG_MULTI = "x"
FLAG_BLOCKED = "b"


class Client:
    """State of one connection (or of an in-process caller)."""

    __slots__ = (
        "addr",
        "authenticated",
        "block_deadline",
        "blocked",
        "channels",
        "close_after_reply",
        "created_s",
        "db",
        "dirty_cas",
        "engine",
        "flags",
        "id",
        "laddr",
        "last_command",
        "multi",
        "multi_error",
        "name",
        "patterns",
        "plain",
        "propagate",
        "proto",
        "push",
        "server",
        "watched",
    )

    def __init__(self, engine: Any, client_id: int, *, addr: str = "", laddr: str = "",
                 server: Any = None, push: Callable[[bytes], None] | None = None,
                 created_s: float = 0.0) -> None:
        self.engine = engine
        self.db = engine.db
        self.server = server
        self.id = client_id
        self.addr = addr
        self.laddr = laddr
        self.name = b""
        self.proto = 2
        self.authenticated = engine.requirepass is None
        self.multi: list[tuple[Any, list[bytes]]] | None = None
        self.multi_error = False
        self.watched: set[bytes] = set()
        self.dirty_cas = False
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.flags: set[str] = set()
        self.propagate: list[list[bytes]] | None = None
        self.blocked = False
        self.block_deadline = 0.0
        self.close_after_reply = False
        # What CLIENT LIST shows as cmd=: the Command last run (stored by the shell and
        # the engine where they already hold it: one attribute store per request), a
        # "name|sub" string set by container commands, or None (no command yet, or an
        # unknown one, as Redis prints NULL).
        self.last_command: Any = None
        self.created_s = created_s
        # Pub/sub messages and other out-of-band bytes go here (the shell writes them).
        self.push: Callable[[bytes], None] = push if push is not None else _discard
        self.plain = True
        self.refresh()

    def refresh(self) -> None:
        """Recompute ``plain``: True when no state needs the engine's slow path."""
        self.plain = (self.authenticated and self.multi is None
                      and not ((self.channels or self.patterns) and self.proto == 2))

    @property
    def subscriptions(self) -> int:
        return len(self.channels) + len(self.patterns)


def _discard(data: bytes) -> None:
    del data
