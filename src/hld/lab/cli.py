"""Run an experiment that reproduces a trade-off; each prints a table (or json/csv)."""

from __future__ import annotations

import argparse

from hld.runtime.commands import add_discovered


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_discovered(parser, "hld.lab", "EXPERIMENT")


def run(args: argparse.Namespace) -> int:
    status: int = args._run(args)
    return status
