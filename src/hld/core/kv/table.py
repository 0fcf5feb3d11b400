"""The command table as data: one ``Command`` record per command, one ``TABLE``.

A command family module registers its handlers with the ``command`` decorator::

    # XLEN key
    @command("xlen", arity=2, flags="readonly fast", keys=(1, 1, 1), group="stream")
    def xlen(c: Client, argv: list[bytes]) -> Reply: ...

``arity`` follows Redis: positive means exactly that many words including the name,
negative means at least ``-arity``. ``keys=(first, last, step)`` are the key positions
(``last`` -1 means the last argument, -2 the one before); ``(0, 0, 0)`` means no keys.
Flags are Redis' words: write readonly denyoom admin pubsub noscript loading stale fast
blocking; the engine reads ``write`` (propagation, read-only replicas, MULTI/WATCH),
``denyoom`` (refused under maxmemory when nothing can be evicted), ``pubsub`` (allowed
in RESP2 subscribed context), ``noauth`` (allowed before AUTH), ``loading`` and
``stale``. Sub-commands (``CONFIG GET``, ``XGROUP CREATE``) are dispatched by the parent
handler and listed in ``subcommands`` so COMMAND DOCS can show them.

COMMAND, COMMAND COUNT, COMMAND INFO and COMMAND DOCS answer from this table, so adding a
command is adding one decorated function, in any module imported at start-up
(``hld.store.commands`` imports every family).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# A handler receives the calling client (``hld.core.kv.client.Client``) and the argument
# vector (argv[0] is the command name as sent) and returns the reply already encoded as
# RESP bytes, or a ``Block`` (``hld.core.kv.client``) asking the shell to park the client.
Handler = Callable[[Any, list[bytes]], Any]

FLAG_WORDS = frozenset({
    "write", "readonly", "denyoom", "admin", "pubsub", "noscript", "loading", "stale",
    "fast", "blocking", "noauth", "may_replicate", "no_multi", "allow_busy",
})


@dataclass(slots=True)
class Command:
    """One command: what COMMAND INFO reports, and the handler that runs it."""

    name: str
    arity: int
    flags: frozenset[str]
    first_key: int
    last_key: int
    step: int
    handler: Handler
    group: str = "generic"
    summary: str = ""
    since: str = "1.0.0"
    subcommands: tuple[str, ...] = ()
    # Cached booleans the engine tests on every call (a frozenset lookup costs more).
    is_write: bool = field(init=False, default=False)
    is_denyoom: bool = field(init=False, default=False)
    is_blocking: bool = field(init=False, default=False)
    calls: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        unknown = self.flags - FLAG_WORDS
        if unknown:
            raise ValueError(f"command {self.name!r} has unknown flags {sorted(unknown)}")
        self.is_write = "write" in self.flags
        self.is_denyoom = "denyoom" in self.flags
        self.is_blocking = "blocking" in self.flags

    def full_name(self, argv: list[bytes]) -> str | None:
        """Redis' name for this call (CLIENT LIST cmd=): "config|get" for a subcommand,
        None for an unknown subcommand, the plain name otherwise."""
        if not self.subcommands or len(argv) < 2:
            return self.name
        sub = argv[1].lower().decode(errors="replace")
        return f"{self.name}|{sub}" if sub in self.subcommands else None

    def arity_ok(self, n_args: int) -> bool:
        return n_args == self.arity if self.arity >= 0 else n_args >= -self.arity

    def key_positions(self, argv: list[bytes]) -> list[int]:
        """Indices of the key arguments of ``argv`` (for WATCH-like uses and COMMAND GETKEYS)."""
        if self.first_key <= 0:
            return []
        last = self.last_key if self.last_key >= 0 else len(argv) + self.last_key
        return list(range(self.first_key, min(last, len(argv) - 1) + 1, max(self.step, 1)))


class CommandTable:
    """Commands by lower-case name (bytes), the key the shell looks up per request."""

    def __init__(self) -> None:
        self.by_name: dict[bytes, Command] = {}

    def add(self, cmd: Command) -> Command:
        key = cmd.name.lower().encode()
        if key in self.by_name:
            raise ValueError(f"command {cmd.name!r} is registered twice")
        self.by_name[key] = cmd
        return cmd

    def get(self, name: bytes) -> Command | None:
        return self.by_name.get(name.lower())

    def __len__(self) -> int:
        return len(self.by_name)

    def __iter__(self) -> Any:
        return iter(self.by_name.values())

    def command(self, name: str, *, arity: int, flags: str = "",
                keys: tuple[int, int, int] = (0, 0, 0), group: str = "generic",
                summary: str = "", since: str = "1.0.0",
                subcommands: tuple[str, ...] = ()) -> Callable[[Handler], Handler]:
        """Decorator registering ``handler`` as command ``name``."""

        def register(handler: Handler) -> Handler:
            self.add(Command(name.lower(), arity, frozenset(flags.split()), keys[0], keys[1],
                             keys[2], handler, group, summary or (handler.__doc__ or "").strip()
                             .split("\n")[0], since, subcommands))
            return handler

        return register


TABLE = CommandTable()
command = TABLE.command
