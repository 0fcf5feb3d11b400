"""The ``hld`` command.

Each top-level command lives in its own module and exposes ``add_arguments(parser)`` and
``run(args) -> int``. ``lab`` and ``bench`` discover their experiments from the modules of
``hld.lab`` and ``hld.bench`` (see ``hld.runtime.commands``), so adding one is adding a file.
A user mistake ends in one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from typing import NoReturn

from hld import __version__
from hld.runtime.commands import CLIError

# (name, help, module). Modules that do not exist yet are left out of the parser.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("demo", "run the main job on embedded defaults", "hld.demo"),
    ("up", "start the reference system", "hld.control.up"),
    ("down", "stop a running reference system", "hld.control.down"),
    ("status", "show what the reference system runs", "hld.control.status"),
    ("logs", "show the system's logs merged", "hld.control.logs"),
    ("store", "run hld-store, the Redis-protocol server", "hld.store.cli"),
    ("gateway", "run hld-gateway, the HTTP API gateway", "hld.gateway.cli"),
    ("app", "run a chirp app server (the reference application)", "hld.app.cli"),
    ("worker", "run a chirp fan-out worker", "hld.app.worker_cli"),
    ("load", "send realistic traffic through the gateway", "hld.app.load"),
    ("lab", "run an experiment that reproduces a trade-off", "hld.lab.cli"),
    ("bench", "benchmark a block against its best Python peer", "hld.bench.cli"),
)


def _exists(module_name: str) -> bool:
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:  # the parent package has not arrived yet
        return False


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (the usage stays one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that command's module is imported.

    Every process of the running system starts through here, so importing one module
    instead of all of them keeps start-up short and keeps one broken module from taking
    every command down with it.
    """
    parser = _Parser(
        prog="hld",
        description="hld: the high-level-design roadmap made real.",
    )
    parser.add_argument("--version", action="version", version=f"hld {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text, module_name in COMMANDS:
        if not _exists(module_name):
            continue
        if only is not None and name != only:
            sub.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    known = {name for name, _, _ in COMMANDS}
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in known else None


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_in(arguments))
    args = parser.parse_args(arguments)
    try:
        status: int = args._run(args)
    except CLIError as exc:
        print(f"hld {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    raise SystemExit(main())
