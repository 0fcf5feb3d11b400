"""Command families of hld-store, one module each, registered into ``hld.core.kv.TABLE``.

Importing this package imports every module in it (``strings``, ``keys``, ``hashes``,
``lists``, ``sets``, ``zsets``, ``hll``, ``pubsub``, ``transactions``, ``server``,
``throttle``, and the durability side's ``streams`` and ``replication`` commands),
so a new family is a new file. Handlers are plain functions ``(client, argv) -> bytes |
Block`` declared with ``@command``; they may raise ``CommandError`` (``hld.core.kv.replies``)
whose encoded reply is returned: ``register`` below wraps them for that.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from hld.core.kv.replies import CommandError
from hld.core.kv.table import TABLE

Handler = Callable[[Any, list[bytes]], Any]
F = TypeVar("F", bound=Callable[..., Any])


def command(name: str, *, arity: int, flags: str = "",
            keys: tuple[int, int, int] = (0, 0, 0), group: str = "generic",
            summary: str = "", since: str = "1.0.0",
            subcommands: tuple[str, ...] = ()) -> Callable[[F], F]:
    """``TABLE.command``, with ``CommandError`` turned into its reply."""

    def register(handler: F) -> F:
        @wraps(handler)
        def guarded(c: Any, argv: list[bytes]) -> Any:
            try:
                return handler(c, argv)
            except CommandError as exc:
                return exc.reply

        TABLE.command(name, arity=arity, flags=flags, keys=keys, group=group,
                      summary=summary, since=since,
                      subcommands=subcommands)(_naming(name, guarded)
                                               if subcommands else guarded)
        return handler

    return register


def _naming(name: str, handler: Handler) -> Handler:
    """A container command records "name|sub" as the client's last command (CLIENT LIST
    cmd=client|list, as Redis 7.0), or None for an unknown subcommand (Redis: NULL)."""
    key = name.lower().encode()

    def named(c: Any, argv: list[bytes]) -> Any:
        c.last_command = TABLE.by_name[key].full_name(argv)
        return handler(c, argv)

    return named


def fast_command(name: str, *, arity: int, flags: str = "",
                 keys: tuple[int, int, int] = (0, 0, 0), group: str = "generic",
                 summary: str = "", since: str = "1.0.0") -> Callable[[F], F]:
    """Register without the wrapper: for hot handlers that never raise ``CommandError``."""
    return cast(Callable[[F], F], TABLE.command(name, arity=arity, flags=flags, keys=keys,
                                                group=group, summary=summary, since=since))


_loaded = False


def load_all() -> None:
    """Import every family module once (idempotent)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
