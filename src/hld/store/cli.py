"""Run hld-store, a Redis-protocol in-memory database, cache and queue server.

Settings come from an optional config file (redis.conf style: ``name value`` lines)
and then from flags, which win. Example: ``hld store --port 7379 --maxmemory 100mb
--maxmemory-policy allkeys-lru``. ``--metrics-port P`` serves Prometheus ``/metrics`` on
``--metrics-bind`` (127.0.0.1 by default).

Save points (``--save "900 1 300 100"``, ``--save ""`` for none) default to Redis' own
(``3600 1 300 100 60 10000``) when persistence is configured (``dir``, ``appendonly`` or
``dbfilename`` given by flag or file), and to none otherwise, so a throwaway
``hld store`` never writes snapshots on its own.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hld.core.kv.savepoints import REDIS_DEFAULT
from hld.runtime.commands import CLIError
from hld.store.config import ConfigError, StoreConfig, load_file, set_value

# Flags that map one-to-one onto settings (flag name == setting name).
_FLAGS = ("port", "bind", "dir", "appendonly", "appendfsync", "appendfilename",
          "dbfilename", "maxmemory", "maxmemory-policy", "maxmemory-samples", "requirepass",
          "maxclients", "hz", "loglevel", "aof-load-truncated", "metrics-port",
          "metrics-bind", "masterauth", "masteruser")
# Settings whose presence means "this store persists": save points then default to Redis'.
_PERSISTENCE_SETTINGS = frozenset({"dir", "appendonly", "dbfilename"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config_file", nargs="?", help="redis.conf-like file of settings")
    for name in _FLAGS:
        parser.add_argument(f"--{name}", dest=name.replace("-", "_"), metavar="VALUE")
    parser.add_argument("--replicaof", "--slaveof", nargs=2, metavar=("HOST", "PORT"),
                        help="start as a replica of HOST PORT")
    parser.add_argument("--save", nargs="*", metavar="SECONDS CHANGES",
                        help='save points, e.g. --save "3600 1 300 100" or --save 60 1000; '
                             '--save "" for none')


def build_config(args: argparse.Namespace) -> StoreConfig:
    """The settings for ``args``; CLIError (one line naming the key) on a bad value."""
    config = StoreConfig()
    given: set[str] = set()
    try:
        if args.config_file:
            given |= load_file(config, Path(args.config_file))
        for name in _FLAGS:
            value = getattr(args, name.replace("-", "_"))
            if value is not None:
                set_value(config, name, value)
                given.add(name)
        if args.replicaof:
            set_value(config, "replicaof", " ".join(args.replicaof))
        if args.save is not None:
            set_value(config, "save", " ".join(args.save))
            given.add("save")
    except ConfigError as exc:
        raise CLIError(str(exc)) from None
    if "save" not in given and given & _PERSISTENCE_SETTINGS:
        config.save = REDIS_DEFAULT
    return config


def run(args: argparse.Namespace) -> int:
    config = build_config(args)
    from hld.store import commands
    from hld.store.server import run_server

    commands.load_all()
    try:
        from hld.store.persistence import install

        return run_server(config, configure=install)
    except OSError as exc:
        from hld.store.metrics import MetricsListenError

        if isinstance(exc, MetricsListenError):
            raise CLIError(str(exc)) from None
        raise CLIError(f"cannot listen on {config.bind}:{config.port}: {exc.strerror}") from None
