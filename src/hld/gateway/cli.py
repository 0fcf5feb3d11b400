"""hld-gateway: the HTTP/1.1 reverse proxy and API gateway.

  hld gateway --config gateway.toml
  hld gateway --listen 127.0.0.1:8080 --upstream http://127.0.0.1:8101 \\
              --upstream http://127.0.0.1:8102 [--balance p2c] [--workers 2] \\
              [--admin 127.0.0.1:9901]

A configuration error names the file, the key and what is wrong. --check validates the
configuration and exits.
"""

from __future__ import annotations

import argparse

from hld.runtime.commands import CLIError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--config", metavar="FILE.toml", help="listeners, routes, upstreams "
                                                              "and policies")
    parser.add_argument("--listen", metavar="HOST:PORT", default="127.0.0.1:8080",
                        help="where to listen without --config (default 127.0.0.1:8080)")
    parser.add_argument("--upstream", metavar="URL", action="append", default=[],
                        help="an upstream server, repeatable (without --config)")
    parser.add_argument("--balance", default="round_robin",
                        help="balancing algorithm without --config (default round_robin)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes sharing the port (default 1)")
    parser.add_argument("--admin", metavar="HOST:PORT", default=None,
                        help="admin port for /metrics and /status (without --config)")
    parser.add_argument("--check", action="store_true", help="validate the configuration "
                                                             "and exit")


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from hld.gateway import config as cfg

    try:
        if args.config:
            if args.upstream:
                raise CLIError("give either --config or --upstream, not both")
            config = cfg.load(args.config)
        else:
            config = cfg.simple(args.listen, args.upstream, balance=args.balance,
                                admin=args.admin)
        if args.workers is not None:
            if not 1 <= args.workers <= 64:
                raise CLIError(f"--workers must be between 1 and 64, got {args.workers}")
            config = replace(config, workers=args.workers)
        if args.check:
            from hld.gateway.server import Gateway

            Gateway(config)  # loads keys and builds every policy
            print(f"{config.source}: ok ({len(config.routes)} routes, "
                  f"{len(config.upstreams)} upstreams)")
            return 0
        from hld.gateway.server import serve

        return serve(config)
    except cfg.ConfigError as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"cannot start: {exc.strerror or exc}") from None
