"""Run a chirp app server: ``hld app --port 8101 [--config system.toml] [...]``.

Flags win over the config file; store addresses in DATA_DIR/topology.json win over both
and are followed at run time (failover). Listens on loopback behind the gateway, which
verifies tokens and passes the identity in x-auth-subject; see ``hld.app.web``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from hld.app.limits import KEEP_ALIVE_S
from hld.app.settings import Settings, SettingsError, load
from hld.runtime.commands import CLIError


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``hld app`` and ``hld worker``."""
    parser.add_argument("--config", metavar="FILE", help="system.toml (default: built-in)")
    parser.add_argument("--store", metavar="URL", help="store primary, redis://HOST:PORT")
    parser.add_argument("--replica", metavar="URL", help="store replica, redis://HOST:PORT")
    parser.add_argument("--cache", metavar="URL", help="cache node, redis://HOST:PORT")
    parser.add_argument("--sql", metavar="URL",
                        help="sqlite:///PATH (default DATA_DIR/chirp.db) or postgresql://...")
    parser.add_argument("--jwt-secret-file", metavar="FILE",
                        help="HMAC secret for tokens (default DATA_DIR/jwt.key, created)")
    parser.add_argument("--data-dir", metavar="DIR", help="state directory (default .hld)")
    parser.add_argument("--write-policy", choices=("cache-aside", "write-through",
                                                   "write-around"))


def settings_from(args: argparse.Namespace, name: str) -> Settings:
    try:
        return load(args.config, name=name, store_url=args.store, replica_url=args.replica,
                    cache_url=args.cache, sql_url=args.sql,
                    jwt_secret_file=args.jwt_secret_file, data_dir=args.data_dir,
                    write_policy=args.write_policy)
    except SettingsError as exc:
        raise CLIError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, required=True, help="HTTP port")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (loopback)")
    parser.add_argument("--name", default="app", help="name in logs and /healthz")
    add_store_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from hld.app.web import build

    if not 1 <= args.port <= 65535:
        raise CLIError(f"--port must be 1-65535, got {args.port}")
    settings = settings_from(args, args.name)
    try:
        app = build(settings)
    except SettingsError as exc:
        raise CLIError(str(exc)) from None
    config = uvicorn.Config(app, host=args.host, port=args.port, access_log=False,
                            log_level="warning", lifespan="on", timeout_graceful_shutdown=3,
                            timeout_keep_alive=int(KEEP_ALIVE_S))
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


def standalone(prog: str, add: Callable[[argparse.ArgumentParser], None],
               run_args: Callable[[argparse.Namespace], int],
               argv: Sequence[str] | None = None) -> int:
    """``python -m hld.app.cli`` / ``hld.app.worker_cli``: the command without ``hld``.

    The supervisor and the tests start processes this way: it imports only the app,
    so a start is faster and does not depend on every other command importing cleanly.
    """
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    add(parser)
    args = parser.parse_args(argv)
    try:
        return run_args(args)
    except CLIError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(standalone("hld app", add_arguments, run))
