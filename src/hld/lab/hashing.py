"""Consistent hashing schemes compared: keys moved on membership changes, and balance.

For each scheme (modulo hashing as the baseline; the ring at 1, 10, 100, 160 and 1000
virtual nodes per node; ketama; weighted rendezvous; jump; Maglev; bounded-load) the run
places the same seeded keys on 10, 11, 100 and 99 nodes and reports:

* ``moved_add_pct``: keys whose node changes when 10 nodes become 11 (ideal 1/11);
* ``moved_remove_pct``: keys whose node changes when one of 100 leaves (ideal 1/100);
  the leaving node is one in the middle of the join order, as a failure would pick;
  jump hash is also shown with the *last* node leaving, its ideal case;
* ``load_stddev_pct`` and ``load_max_mean_ratio``: keys per node on 10 nodes;
* ``max_mean_100_ratio``: keys per node on 100 nodes, and ``share_max_mean_100_ratio``,
  the exact share of the hash space per node where the scheme defines one (ring arcs,
  Maglev slots), which is free of the sampling noise of a finite key set.

Strategy: every figure comes from running our schemes (``hld.core.hashing``) on the keys;
nothing is computed from formulas except the ideal columns.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from hld.core.hashing import (
    BoundedLoadRing,
    HashRing,
    JumpHash,
    KetamaRing,
    MaglevHash,
    ModuloHash,
    RendezvousHash,
    Scheme,
)
from hld.runtime.commands import CLIError
from hld.runtime.report import add_format_argument, add_plot_argument, check_plot_path, emit

NAME = "hashing"
HELP = "keys moved on membership changes and load balance, per hashing scheme"

KEYS_DEFAULT = 50_000
KEYS_MIN = 1_000  # below this the percentages are mostly sampling noise
KEYS_MAX = 5_000_000  # a bound on run time and memory (~4 placements per key per scheme)
SMALL, LARGE = 10, 100  # the two cluster sizes of the experiment
LEAVING_INDEX = 37  # the node that leaves the 100-node cluster (not the last one)

Factory = Callable[[list[str]], Scheme]

# (label, family, factory): the family is what --schemes selects.
SCHEMES: tuple[tuple[str, str, Factory], ...] = (
    ("modulo", "modulo", ModuloHash),
    ("ring, 1 vnode", "ring", lambda n: HashRing(n, vnodes=1)),
    ("ring, 10 vnodes", "ring", lambda n: HashRing(n, vnodes=10)),
    ("ring, 100 vnodes", "ring", lambda n: HashRing(n, vnodes=100)),
    ("ring, 160 vnodes", "ring", lambda n: HashRing(n, vnodes=160)),
    ("ring, 1000 vnodes", "ring", lambda n: HashRing(n, vnodes=1000)),
    ("ketama (40x4 points)", "ketama", KetamaRing),
    ("rendezvous", "rendezvous", RendezvousHash),
    ("jump", "jump", JumpHash),
    ("maglev, M=65537", "maglev", MaglevHash),
    # With 160 vnodes the plain ring already stays under 1.25 x the mean, so the bound is
    # shown where it binds: a coarse ring with HAProxy's suggested 1.25, a fine one at 1.05.
    ("bounded-load, 10 vnodes, c=1.25", "bounded",
     lambda n: BoundedLoadRing(n, vnodes=10, balance_factor=1.25)),
    ("bounded-load, 160 vnodes, c=1.05", "bounded",
     lambda n: BoundedLoadRing(n, vnodes=160, balance_factor=1.05)),
)
FAMILIES = tuple(dict.fromkeys(family for _, family, _ in SCHEMES))

COLUMNS = ["scheme", "moved_add_pct", "ideal_add_pct", "moved_remove_pct", "ideal_remove_pct",
           "load_stddev_pct", "load_max_mean_ratio", "max_mean_100_ratio",
           "share_max_mean_100_ratio"]


def make_keys(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"key:{rng.getrandbits(64):016x}" for _ in range(count)]


def node_names(count: int) -> list[str]:
    return [f"node-{i}" for i in range(count)]


def _moved_pct(before: Sequence[str], after: Sequence[str]) -> float:
    return 100.0 * sum(a != b for a, b in zip(before, after, strict=True)) / len(before)


def _balance(placed: Sequence[str], nodes: Sequence[str]) -> tuple[float, float]:
    counts = Counter(placed)
    loads = [counts[n] for n in nodes]
    mean = statistics.fmean(loads)
    return 100.0 * statistics.pstdev(loads) / mean, max(loads) / mean


def measure(label: str, factory: Factory, keys: Sequence[str]) -> list[dict[str, Any]]:
    """The row(s) of one scheme (jump hash gets a second row: the last node leaving)."""
    small = factory(node_names(SMALL))
    on_small = small.place_all(keys)
    small.add(f"node-{SMALL}")
    on_eleven = small.place_all(keys)
    large = factory(node_names(LARGE))
    on_large = large.place_all(keys)
    shares = large.shares()
    leaving_cases = [(label, f"node-{LEAVING_INDEX}")]
    if isinstance(large, JumpHash):
        leaving_cases.append((f"{label}, last node leaves", f"node-{LARGE - 1}"))
    stddev_pct, max_mean = _balance(on_small, node_names(SMALL))
    _, max_mean_large = _balance(on_large, node_names(LARGE))
    rows = []
    for row_label, leaving in leaving_cases:
        after = large.copy()
        after.remove(leaving)
        rows.append({
            "scheme": row_label,
            "moved_add_pct": _moved_pct(on_small, on_eleven),
            "ideal_add_pct": 100.0 / (SMALL + 1),
            "moved_remove_pct": _moved_pct(on_large, after.place_all(keys)),
            "ideal_remove_pct": 100.0 / LARGE,
            "load_stddev_pct": stddev_pct,
            "load_max_mean_ratio": max_mean,
            "max_mean_100_ratio": max_mean_large,
            "share_max_mean_100_ratio": (max(shares.values()) * LARGE if shares is not None
                                         else math.nan),
        })
    return rows


def run_experiment(keys: Sequence[str], families: Sequence[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for label, family, factory in SCHEMES:
        if family in families:
            rows.extend(measure(label, factory, keys))
    return rows


def _parse_families(text: str | None) -> list[str]:
    if text is None:
        return list(FAMILIES)
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [c for c in chosen if c not in FAMILIES]
    if unknown or not chosen:
        raise CLIError(f"--schemes {text!r}: choose from {', '.join(FAMILIES)}"
                       " (comma-separated)")
    return chosen


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keys", type=int, default=KEYS_DEFAULT,
                        help=f"seeded keys placed per configuration (default: {KEYS_DEFAULT:,})")
    parser.add_argument("--seed", type=int, default=1, help="key seed (default: 1)")
    parser.add_argument("--schemes", default=None,
                        help=f"comma-separated subset of: {', '.join(FAMILIES)} (default: all)")
    add_format_argument(parser)
    add_plot_argument(parser)


def _plot(rows: Sequence[dict[str, Any]], path: str) -> None:
    import matplotlib as mpl
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r["scheme"] for r in rows]
    fig, (ax_moved, ax_load) = plt.subplots(1, 2, figsize=(13, 5))
    ys = range(len(rows))
    ax_moved.barh([y - 0.2 for y in ys], [r["moved_add_pct"] for r in rows], height=0.4,
                  label="10 -> 11 nodes")
    ax_moved.barh([y + 0.2 for y in ys], [r["moved_remove_pct"] for r in rows], height=0.4,
                  label="1 of 100 leaves")
    ax_moved.axvline(100 / (SMALL + 1), color="tab:blue", linestyle="--", linewidth=1)
    ax_moved.axvline(100 / LARGE, color="tab:orange", linestyle=":", linewidth=1)
    ax_moved.set(xscale="log", xlabel="keys moved (%, log; lines: ideal)", title="keys moved")
    ax_moved.set_yticks(list(ys), labels)
    ax_moved.invert_yaxis()
    ax_moved.legend()
    ax_load.barh(list(ys), [r["load_stddev_pct"] for r in rows])
    ax_load.set(xlabel="load std-dev on 10 nodes (% of mean)", title="balance")
    ax_load.set_yticks(list(ys), [""] * len(rows))
    ax_load.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    if not KEYS_MIN <= args.keys <= KEYS_MAX:
        raise CLIError(f"--keys {args.keys}: must be between {KEYS_MIN:,} and {KEYS_MAX:,}")
    families = _parse_families(args.schemes)
    check_plot_path(args.plot)
    rows = run_experiment(make_keys(args.keys, args.seed), families)
    emit(NAME, rows, args.format, columns=COLUMNS,
         title=f"hashing schemes: {args.keys:,} keys; moves 10->11 and 100->99 nodes; balance")
    if args.plot:
        _plot(rows, args.plot)
    return 0
