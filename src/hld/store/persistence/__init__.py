"""Durability of hld-store: the snapshot format, the append-only file, and their manager.

``install(server)`` wires a ``StoreServer`` for persistence and replication: start-up
loading, the AOF write listener and flush-before-reply, background saves and rewrites
polled from the cron, shutdown flushing, CONFIG SET of appendonly/appendfsync, and the
``persistence`` INFO section. The server shell calls it once, before ``start()``.
"""

from __future__ import annotations

from typing import Any

from hld.core.kv import info
from hld.store.config import StoreConfig, on_change
from hld.store.persistence.manager import Persistence

__all__ = ["Persistence", "install"]


def install(server: Any) -> Persistence:
    persistence = Persistence(server)
    server.persistence = persistence
    server.startup_hooks.append(lambda _s: persistence.startup())
    server.shutdown_hooks.append(
        lambda s: persistence.shutdown(save=getattr(s, "shutdown_save", None)))
    server.cron_hooks.append(lambda _s: persistence.cron())
    hooks = getattr(server, "before_reply_hooks", None)
    if hooks is not None:
        hooks.append(persistence.flush)
    else:
        # A shell without the hook: flush after every write command instead (correct,
        # one fsync per write under `always` instead of one per batch).
        persistence.flush_per_write = True

    def appendonly_changed(config: StoreConfig, value: Any) -> None:
        del value
        if config.appendonly:
            persistence.enable_aof(running=True)
        else:
            persistence.disable_aof()

    def appendfsync_changed(config: StoreConfig, value: Any) -> None:
        del value
        persistence.set_fsync_policy(config.appendfsync)

    on_change("appendonly", appendonly_changed)
    on_change("appendfsync", appendfsync_changed)
    info.register_section("persistence", lambda _e: persistence.info(), replace=True)
    from hld.store.replication import install as install_replication

    install_replication(server)
    return persistence
