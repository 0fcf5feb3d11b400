"""Benchmark blocks against their peers in one run and print the ratios.

``hld bench all`` runs every benchmark with its defaults (``--quick`` for a short pass).
"""

from __future__ import annotations

import argparse

from hld.runtime.commands import add_discovered, discover


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_discovered(parser, "hld.bench", "BENCHMARK")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    every = sub.add_parser("all", help="run every benchmark, one after the other")
    every.add_argument("--quick", action="store_true", help="short runs (noisier figures)")
    every.set_defaults(_run=_run_all)


def _run_all(args: argparse.Namespace) -> int:
    status = 0
    for module in discover("hld.bench"):
        parser = argparse.ArgumentParser(prog=f"hld bench {module.NAME}")
        module.add_arguments(parser)
        has_quick = any("--quick" in a.option_strings for a in parser._actions)
        sub_args = parser.parse_args(["--quick"] if args.quick and has_quick else [])
        print(f"== hld bench {module.NAME}", flush=True)
        status = max(status, int(module.run(sub_args)))
    return status


def run(args: argparse.Namespace) -> int:
    status: int = args._run(args)
    return status
