"""Discovery of ``hld lab`` and ``hld bench`` sub-commands, and the CLI's error type.

An experiment or benchmark is a module in ``hld.lab`` or ``hld.bench`` that defines
``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``. Modules whose name
starts with an underscore, and ``cli``, are helpers and are skipped. Heavy imports
(matplotlib, peers) belong inside ``run`` so that ``hld --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from types import ModuleType


class CLIError(Exception):
    """A user mistake: the message says what is wrong and what to do; no traceback."""


def discover(package: str) -> list[ModuleType]:
    pkg = importlib.import_module(package)
    modules = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_") or info.name == "cli":
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "run"):
            modules.append(module)
    return sorted(modules, key=lambda m: str(m.NAME))


def add_discovered(parser: argparse.ArgumentParser, package: str, metavar: str) -> None:
    sub = parser.add_subparsers(dest="name", metavar=metavar, required=True)
    for module in discover(package):
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
