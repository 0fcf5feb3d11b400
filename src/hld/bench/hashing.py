"""Lookup cost of our hashing schemes against uhashring, side by side in one run.

Pairs: our ``HashRing`` (160 points per node, crc32 keys) against uhashring's default
ring (160 points, md5); our ``Md5Ring`` (the same placements as uhashring's default)
against it too; our ``KetamaRing`` against uhashring's ketama mode; and our jump,
Maglev, rendezvous, bounded-load and modulo lookups, with uhashring's default ring as the
reference point. The target is a ring lookup at most 0.5x uhashring's cost.

Strategy: every contender looks up the same seeded keys through the same loop
(``for key in keys: lookup(key)``), so loop overhead is shared. Contenders run in
interleaved rounds, alternating their order, with the garbage collector paused while a
round is timed; the figure is the fastest round (noise only adds time), and the ratio is
taken between those. Placements of our compatible rings are checked against uhashring's
before timing, so the comparison is between equal work.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import math
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from hld.runtime.commands import CLIError
from hld.runtime.report import add_format_argument, emit

NAME = "hashing"
HELP = "ring/ketama/jump/maglev/rendezvous lookup cost vs uhashring"

KEYS_DEFAULT, KEYS_QUICK = 20_000, 2_000
ROUNDS_DEFAULT, ROUNDS_QUICK = 7, 3
NODES_DEFAULT = 10
NODES_MAX = 1_000  # uhashring's ketama mode rebuilds with insort: slow beyond this
KEYS_MAX = 1_000_000
ROUNDS_MAX = 100
RING_TARGET_RATIO = 0.5

Lookup = Callable[[Any], object]

COLUMNS = ["block", "ours", "peer", "ours_ns", "peer_ns", "ratio", "target_ratio",
           "meets_target", "ours_ns_median", "peer_ns_median"]


def _loop(lookup: Lookup, keys: Sequence[str]) -> Callable[[], None]:
    def run() -> None:
        for key in keys:
            lookup(key)
    return run


def _time_ns(run: Callable[[], None], ops: int) -> float:
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        run()
        return (time.perf_counter_ns() - start) / ops
    finally:
        if enabled:
            gc.enable()


def interleave(runs: dict[str, Callable[[], None]], ops: int,
               rounds: int) -> dict[str, tuple[float, float]]:
    """(fastest, median) ns per op of each contender over interleaved rounds."""
    for run in runs.values():
        run()  # warm-up, untimed
    samples: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for index in range(rounds):
        for name in names if index % 2 == 0 else names[::-1]:
            samples[name].append(_time_ns(runs[name], ops))
    return {name: (min(v), sorted(v)[len(v) // 2]) for name, v in samples.items()}


def build(nodes: int) -> tuple[dict[str, Lookup], dict[str, str]]:
    """Every contender's lookup, and the version of each peer."""
    from uhashring import HashRing as PeerRing

    from hld.core.hashing import (
        BoundedLoadRing,
        HashRing,
        JumpHash,
        KetamaRing,
        MaglevHash,
        Md5Ring,
        ModuloHash,
        RendezvousHash,
    )

    names = [f"cache-{i}.internal:11211" for i in range(nodes)]
    peer_default = PeerRing(names)
    peer_ketama = PeerRing(names, hash_fn="ketama")
    ours_md5 = Md5Ring(names)
    ours_ketama = KetamaRing(names)
    probe = [f"probe-{i}" for i in range(500)]
    if ours_md5.place_all(probe) != [peer_default.get_node(k) for k in probe] or \
            ours_ketama.place_all(probe) != [peer_ketama.get_node(k) for k in probe]:
        raise RuntimeError("compatible rings disagree with uhashring; not comparing")
    lookups: dict[str, Lookup] = {
        "hld HashRing": HashRing(names).lookup,
        "hld Md5Ring": ours_md5.lookup,
        "hld KetamaRing": ours_ketama.lookup,
        "hld JumpHash": JumpHash(names).lookup,
        "hld MaglevHash": MaglevHash(names).lookup,
        "hld RendezvousHash": RendezvousHash(names).lookup,
        "hld BoundedLoadRing": BoundedLoadRing(names).lookup,
        "hld ModuloHash": ModuloHash(names).lookup,
        "uhashring": peer_default.get_node,
        "uhashring ketama": peer_ketama.get_node,
    }
    return lookups, {"uhashring": importlib.metadata.version("uhashring")}


# (block, ours, peer, target ratio or None)
PAIRS: tuple[tuple[str, str, str, float | None], ...] = (
    ("ring lookup", "hld HashRing", "uhashring", RING_TARGET_RATIO),
    ("ring lookup, same placements", "hld Md5Ring", "uhashring", None),
    ("ketama lookup", "hld KetamaRing", "uhashring ketama", RING_TARGET_RATIO),
    ("jump lookup", "hld JumpHash", "uhashring", None),
    ("maglev lookup", "hld MaglevHash", "uhashring", None),
    ("rendezvous lookup", "hld RendezvousHash", "uhashring", None),
    ("bounded-load lookup", "hld BoundedLoadRing", "uhashring", None),
    ("modulo lookup", "hld ModuloHash", "uhashring", None),
)


def rows_from(figures: dict[str, tuple[float, float]], version: str) -> list[dict[str, Any]]:
    rows = []
    for block, ours, peer, target in PAIRS:
        ours_ns, ours_median = figures[ours]
        peer_ns, peer_median = figures[peer]
        ratio = ours_ns / peer_ns if peer_ns else math.nan
        rows.append({
            "block": block,
            "ours": ours,
            "peer": f"{peer} {version}",
            "ours_ns": ours_ns,
            "peer_ns": peer_ns,
            "ratio": ratio,
            "target_ratio": target if target is not None else math.nan,
            "meets_target": "-" if target is None else ("yes" if ratio <= target else "no"),
            "ours_ns_median": ours_median,
            "peer_ns_median": peer_median,
        })
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="few keys and rounds (a smoke test; noisy figures)")
    parser.add_argument("--nodes", type=int, default=NODES_DEFAULT,
                        help=f"nodes in every ring (default: {NODES_DEFAULT})")
    parser.add_argument("--keys", type=int, default=None,
                        help=f"keys looked up per round (default: {KEYS_DEFAULT:,},"
                             f" {KEYS_QUICK:,} with --quick)")
    parser.add_argument("--rounds", type=int, default=None,
                        help=f"interleaved rounds (default: {ROUNDS_DEFAULT},"
                             f" {ROUNDS_QUICK} with --quick)")
    add_format_argument(parser)


def run(args: argparse.Namespace) -> int:
    keys_count = args.keys if args.keys is not None else (KEYS_QUICK if args.quick
                                                          else KEYS_DEFAULT)
    rounds = args.rounds if args.rounds is not None else (ROUNDS_QUICK if args.quick
                                                          else ROUNDS_DEFAULT)
    if not 1 <= args.nodes <= NODES_MAX:
        raise CLIError(f"--nodes {args.nodes}: must be between 1 and {NODES_MAX}")
    if not 100 <= keys_count <= KEYS_MAX:
        raise CLIError(f"--keys {keys_count}: must be between 100 and {KEYS_MAX:,}")
    if not 1 <= rounds <= ROUNDS_MAX:
        raise CLIError(f"--rounds {rounds}: must be between 1 and {ROUNDS_MAX}")
    rng = random.Random(1)
    keys = [f"user:{rng.getrandbits(40)}:session" for _ in range(keys_count)]
    lookups, versions = build(args.nodes)
    figures = interleave({name: _loop(fn, keys) for name, fn in lookups.items()},
                         len(keys), rounds)
    emit(NAME, rows_from(figures, versions["uhashring"]), args.format, columns=COLUMNS,
         title=f"hashing lookup cost, ns/op ({args.nodes} nodes, {len(keys):,} keys x"
               f" {rounds} interleaved rounds, fastest round; ratio = ours / peer)")
    return 0
