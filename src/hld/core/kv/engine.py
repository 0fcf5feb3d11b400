"""Command execution: lookup, checks, the handler call, propagation, eviction.

``Engine.execute(client, argv)`` is the one entry point, used by the shell for every
request and by tests in-process. The common case (an authenticated client outside
MULTI, not subscribed in RESP2, on a primary) takes a short path: table lookup by the
lower-cased name, arity check, the maxmemory check for ``denyoom`` commands, the handler,
and propagation if the keyspace's ``dirty`` counter moved. Everything else (NOAUTH,
queuing inside MULTI, the RESP2 subscribed context, read-only replicas) is checked on the
slow path, which the client's ``plain`` flag selects.

Propagation: every write command that changed something is handed, after it succeeded,
to ``Keyspace.listeners`` (AOF, replication) as an argv. A handler may rewrite what is
propagated by setting ``client.propagate`` to a list of argvs (SET EX -> SET PXAT,
INCRBYFLOAT -> SET, EXPIRE -> PEXPIREAT, SPOP -> SREM, BLPOP -> LPOP), so replaying the
stream is deterministic. A transaction with writes is propagated as MULTI ... EXEC.
Add a listener with ``engine.add_write_listener(fn)``; ``fn(argv)`` must not block.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from hld.core.kv.client import Block, Client
from hld.core.kv.evict import Evictor, Rng, make_evictor
from hld.core.kv.keyspace import Keyspace
from hld.core.kv.memory import BASELINE_BYTES
from hld.core.kv.pubsub import PubSub
from hld.core.kv.table import TABLE, Command, CommandTable
from hld.core.resp.serializer import NULL3, NULL_ARRAY, QUEUED, error

# Commands allowed while a RESP2 client is subscribed (Redis' list).
SUBSCRIBED_ALLOWED: Final = frozenset({
    b"subscribe", b"psubscribe", b"unsubscribe", b"punsubscribe", b"ping", b"quit",
    b"reset", b"ssubscribe", b"sunsubscribe",
})
# Commands that run at once inside MULTI instead of being queued.
MULTI_IMMEDIATE: Final = frozenset({b"exec", b"discard", b"multi", b"watch", b"quit",
                                    b"reset"})
EVICTIONS_PER_COMMAND_MAX: Final = 10_000  # bounds the work one write can trigger
# Spellings of command names cached for lookup ("SET", "set", "Set"...): a client sending
# random capitalisations must not grow the cache without bound.
COMMAND_SPELLINGS_MAX: Final = 4096

ERR_OOM: Final = error("OOM command not allowed when used memory > 'maxmemory'.")
ERR_NOAUTH: Final = error("NOAUTH Authentication required.")
ERR_READONLY: Final = error("READONLY You can't write against a read only replica.")
ERR_EXECABORT: Final = error(
    "EXECABORT Transaction discarded because of previous errors.")
ERR_NO_MULTI: Final = error("ERR Command not allowed inside a transaction")


def unknown_command(argv: list[bytes]) -> bytes:
    name = argv[0][:128].decode(errors="replace")
    args = "".join(f"'{a[:128].decode(errors='replace')}' " for a in argv[1:21])
    return error(f"ERR unknown command '{name}', with args beginning with: {args}")


def wrong_arity(name: str) -> bytes:
    return error(f"ERR wrong number of arguments for '{name}' command")


def propagate_write(db: Keyspace, c: Client, argv: list[bytes]) -> None:
    """Hand a write that changed something to the listeners: as sent, or as rewritten."""
    if c.propagate is None:
        db.propagate(argv)
    else:
        for rewritten in c.propagate:
            db.propagate(rewritten)


class Engine:
    """Database 0, the command table, pub/sub, and the settings the engine enforces."""

    def __init__(self, *, table: CommandTable = TABLE, rng: Rng, requirepass: bytes | None = None,
                 maxmemory_bytes: int = 0, maxmemory_policy: str = "noeviction",
                 maxmemory_samples: int = 5) -> None:
        self.db = Keyspace()
        self.table = table
        # Lookup by the name as sent, filled on first use of each spelling: clients send
        # "SET" or "set" consistently, so the per-request lower() is skipped after that.
        self.commands: dict[bytes, Command] = dict(table.by_name)
        self.pubsub = PubSub()
        self.rng = rng
        self.requirepass = requirepass
        self.readonly = False  # a replica refuses writes from ordinary clients
        self.server: Any = None  # the shell, when there is one
        self.settings: Any = None  # the store's config object, when there is one
        self.maxmemory_bytes = 0
        self.maxmemory_policy = "noeviction"
        self.maxmemory_samples = maxmemory_samples
        self.evictor: Evictor | None = None
        self.total_commands = 0
        self.rejected_oom = 0
        self.configure_memory(maxmemory_bytes, maxmemory_policy)

    # -- configuration -----------------------------------------------------------

    def configure_memory(self, maxmemory_bytes: int, policy: str) -> None:
        """Apply maxmemory and maxmemory-policy (CONFIG SET, start-up)."""
        evictor = make_evictor(policy, max(maxmemory_bytes - BASELINE_BYTES, 1),
                               db=self.db, rng=self.rng, samples=self.maxmemory_samples)
        self.maxmemory_bytes = maxmemory_bytes
        self.maxmemory_policy = policy
        self.evictor = evictor if maxmemory_bytes > 0 else None
        self.db.tracker = self.evictor

    def add_write_listener(self, listener: Callable[[list[bytes]], None]) -> None:
        self.db.listeners.append(listener)

    def remove_write_listener(self, listener: Callable[[list[bytes]], None]) -> None:
        if listener in self.db.listeners:
            self.db.listeners.remove(listener)

    @property
    def used_memory(self) -> int:
        return BASELINE_BYTES + self.db.used

    # -- execution ---------------------------------------------------------------

    def execute(self, c: Client, argv: list[bytes]) -> bytes | Block:
        """Run one command for client ``c``; returns the encoded reply or a ``Block``."""
        self.total_commands += 1
        try:
            cmd = self.commands.get(argv[0])
        except IndexError:  # an empty request (*0): nothing to run, nothing to answer
            self.total_commands -= 1
            return b""
        if cmd is None:
            cmd = self._lookup(argv[0])
        c.last_command = cmd
        if not c.plain or self.readonly:
            return self._execute_slow(c, cmd, argv[0].lower(), argv)
        if cmd is None:
            return unknown_command(argv)
        arity = cmd.arity
        if (len(argv) != arity) if arity >= 0 else (len(argv) < -arity):
            return wrong_arity(cmd.name)
        # The body of _call, repeated here: one Python call less on every request.
        db = self.db
        if self.maxmemory_bytes and cmd.is_denyoom and not self._fits():
            self.rejected_oom += 1
            return ERR_OOM
        dirty = db.dirty
        reply = cmd.handler(c, argv)
        if db.dirty != dirty:
            if db.listeners:
                propagate_write(db, c, argv)
            if self.evictor is not None:
                self._fits()
        if c.propagate is not None:
            c.propagate = None
        return reply  # type: ignore[no-any-return]

    def _lookup(self, name: bytes) -> Command | None:
        cmd = self.table.by_name.get(name.lower())
        if cmd is not None and len(self.commands) < COMMAND_SPELLINGS_MAX:
            self.commands[name] = cmd
        return cmd

    def _call(self, c: Client, cmd: Command, argv: list[bytes]) -> bytes | Block:
        db = self.db
        if self.maxmemory_bytes and cmd.is_denyoom and not self._fits():
            self.rejected_oom += 1
            return ERR_OOM
        dirty = db.dirty
        reply = cmd.handler(c, argv)
        if db.dirty != dirty:
            if db.listeners:
                propagate_write(db, c, argv)
            if self.evictor is not None:
                self._fits()
        c.propagate = None
        return reply  # type: ignore[no-any-return]

    def _execute_slow(self, c: Client, cmd: Command | None, name: bytes,
                      argv: list[bytes]) -> bytes | Block:
        if not c.authenticated and (cmd is None or "noauth" not in cmd.flags):
            return ERR_NOAUTH
        if c.multi is not None and name not in MULTI_IMMEDIATE:
            if cmd is None:
                c.multi_error = True
                return unknown_command(argv)
            if not cmd.arity_ok(len(argv)):
                c.multi_error = True
                return wrong_arity(cmd.name)
            if "no_multi" in cmd.flags:  # SAVE, SHUTDOWN, PSYNC: refused, as Redis
                c.multi_error = True
                return ERR_NO_MULTI
            if cmd.subcommands:
                c.last_command = cmd.full_name(argv)
            c.multi.append((cmd, argv))
            return QUEUED
        if cmd is None:
            return unknown_command(argv)
        if not cmd.arity_ok(len(argv)):
            return wrong_arity(cmd.name)
        if c.proto == 2 and (c.channels or c.patterns) and name not in SUBSCRIBED_ALLOWED:
            return error(f"ERR Can't execute '{cmd.name}': only (P|S)SUBSCRIBE / "
                         "(P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
        if self.readonly and cmd.is_write and "M" not in c.flags:
            return ERR_READONLY
        return self._call(c, cmd, argv)

    def exec_transaction(self, c: Client) -> bytes:
        """EXEC: run the queued commands, or abort (WATCH, earlier errors)."""
        queued = c.multi or []
        had_error = c.multi_error
        aborted = c.dirty_cas
        self.discard_transaction(c)
        if had_error:
            return ERR_EXECABORT
        if aborted:
            return null_array(c.proto)
        if self.maxmemory_bytes and any(cmd.is_denyoom for cmd, _ in queued) \
                and not self._fits():
            return ERR_OOM
        db = self.db
        writes: list[list[bytes]] = []
        listeners = db.listeners
        if listeners:
            # Buffer what the commands propagate so the batch goes out inside MULTI/EXEC.
            db.listeners = [writes.append]
        parts = [b"*%d\r\n" % len(queued)]
        last_command = c.last_command  # CLIENT LIST shows exec, not what it ran
        try:
            for cmd, argv in queued:
                dirty = db.dirty
                reply = cmd.handler(c, argv)
                if isinstance(reply, Block):
                    reply = _timeout_reply(reply, c.proto)
                if db.dirty != dirty and listeners:
                    writes.extend(c.propagate if c.propagate is not None else [argv])
                c.propagate = None
                parts.append(reply)
        finally:
            db.listeners = listeners
            c.last_command = last_command
        if writes:
            db.propagate([b"MULTI"])
            for argv in writes:
                db.propagate(argv)
            db.propagate([b"EXEC"])
        c.propagate = []  # EXEC itself is not propagated: its commands were, just above
        if self.evictor is not None:
            self._fits()
        return b"".join(parts)

    def discard_transaction(self, c: Client) -> None:
        c.multi = None
        c.multi_error = False
        self.unwatch(c)
        c.refresh()

    def watch(self, c: Client, key: bytes) -> None:
        if key in c.watched:
            return
        c.watched.add(key)
        self.db.watchers.setdefault(key, set()).add(c)

    def unwatch(self, c: Client) -> None:
        watchers = self.db.watchers
        for key in c.watched:
            clients = watchers.get(key)
            if clients is not None:
                clients.discard(c)
                if not clients:
                    del watchers[key]
        c.watched.clear()
        c.dirty_cas = False

    def disconnect(self, c: Client) -> None:
        """Forget a client that went away (subscriptions, watches)."""
        self.pubsub.drop(c)
        self.unwatch(c)

    # -- memory ------------------------------------------------------------------

    def _fits(self) -> bool:
        """Evict until used memory is under maxmemory; False if that is impossible."""
        db, evictor = self.db, self.evictor
        limit = self.maxmemory_bytes - BASELINE_BYTES
        pending = getattr(evictor, "pending", None)
        while pending:
            db.evict(pending.pop())
        if db.used <= limit:
            return True
        if evictor is None:
            return False
        for _ in range(EVICTIONS_PER_COMMAND_MAX):
            key = evictor.victim()
            if key is None:
                return False
            db.evict(key)
            if db.used <= limit:
                return True
        return db.used <= limit


def null_array(proto: int) -> bytes:
    return NULL3 if proto == 3 else NULL_ARRAY


def _timeout_reply(block: Block, proto: int) -> bytes:
    """What a command that would block answers inside EXEC."""
    if block.in_multi is not None:
        return block.in_multi
    if block.on_timeout is None:
        return null_array(proto)
    if isinstance(block.on_timeout, bytes):
        return block.on_timeout
    return block.on_timeout()
