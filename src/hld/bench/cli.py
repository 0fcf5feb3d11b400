"""Benchmark blocks against their peers in one run and print the ratios."""

from __future__ import annotations

import argparse

from hld.runtime.commands import add_discovered


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_discovered(parser, "hld.bench", "BENCHMARK")


def run(args: argparse.Namespace) -> int:
    status: int = args._run(args)
    return status
