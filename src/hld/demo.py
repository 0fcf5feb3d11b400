"""Run the main job on embedded defaults.

Until the reference system exists, the main job is the cache lab on its built-in
synthetic workloads: every policy, several sizes, hit ratios side by side.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exit", action="store_true",
                        help="stop after the report (kept for the reference system's demo)")


def run(args: argparse.Namespace) -> int:
    from hld.cli import main

    return main(["lab", "cache"])
