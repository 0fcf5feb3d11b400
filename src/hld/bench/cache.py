"""Cache policies against their Python peers: cost per operation and hit ratio, one run.

Cost: every contender replays the same Zipf (s=1) requests over 100,000 keys with room for
10,000 entries, get-or-set (get; on a miss, set), from a warmed cache. Contenders run
round-robin (see ``hld.bench._timing``) and the ratio is ours / peer of the fastest round.
Pairs: our LRU against cachetools' LRUCache and functools.lru_cache (C), FIFO, LFU and
Random against cachetools, and our W-TinyLFU against theine (W-TinyLFU with a Rust core,
run with ``nolock=True``, its fastest mode).

Hit ratio: our W-TinyLFU against theine, with LRU for reference, on every real trace found
in ``--traces`` at the sizes the trace authors suggest. The ratio is ours / theine, higher
is better.

Targets (issue 2): LRU and FIFO at most 0.8x cachetools' cost; W-TinyLFU cheaper than
theine and at least theine's hit ratio on every trace row.
"""

from __future__ import annotations

import argparse
import functools
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hld.bench._timing import interleaved, ratio
from hld.core.cache import make
from hld.lab.cache import KNOWN_TRACE_SIZES
from hld.lab.traces import read_cache2k, zipf
from hld.runtime.commands import CLIError
from hld.runtime.report import add_format_argument, emit

NAME = "cache"
HELP = "cost per operation and hit ratio of our caches against cachetools, functools, theine"

ZIPF_KEYS = 100_000
CAPACITY = 10_000
REQUESTS = 200_000            # per timed round
REQUESTS_QUICK = 10_000
ROUNDS = 5
ROUNDS_QUICK = 2
TRACE_REQUESTS_QUICK = 10_000
SEED = 1
TRACE_FILES = {name: f"cache2k_{name}.trace.xz" for name in KNOWN_TRACE_SIZES}

COST_COLUMNS = ("ours", "peer", "ours_ns_per_op", "peer_ns_per_op", "ours_median_ns_per_op",
                "peer_median_ns_per_op", "ratio", "target", "target_met")
HIT_COLUMNS = ("trace", "size", "requests", "ours", "peer", "ours_hit_ratio_pct",
               "peer_hit_ratio_pct", "lru_hit_ratio_pct", "ratio", "target", "target_met")

# (our policy, peer label, peer factory name, cost target: ours/peer at most this, or None)
PAIRS: tuple[tuple[str, str, float | None], ...] = (
    ("lru", "cachetools.LRUCache", 0.8),
    ("lru", "functools.lru_cache", None),
    ("fifo", "cachetools.FIFOCache", 0.8),
    ("lfu", "cachetools.LFUCache", None),
    ("random", "cachetools.RRCache", None),
    ("wtinylfu", "theine", 1.0),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="small runs (seconds): a smoke test, not a measurement")
    parser.add_argument("--traces", metavar="DIR", default=None,
                        help="folder of the cache2k traces for the hit-ratio table "
                             "(default: ../shared/traces if present)")
    parser.add_argument("--requests", metavar="N", type=int, default=None,
                        help="replay only the first N requests of each trace "
                             "(default: all; --quick: 20,000)")
    parser.add_argument("--no-traces", action="store_true",
                        help="skip the hit-ratio table")
    add_format_argument(parser)


# -- contenders ---------------------------------------------------------------------------


def _ours(policy: str) -> Callable[[Sequence[int]], None]:
    options: dict[str, Any] = {"rng": random.Random(SEED)} if policy == "random" else {}
    cache = make(policy, CAPACITY, **options)
    get = cache.get
    put = cache.put

    def run(keys: Sequence[int]) -> None:
        for key in keys:
            if get(key) is None:
                put(key, key)

    return run


def _cachetools(kind: str) -> Callable[[Sequence[int]], None]:
    import cachetools

    cache = getattr(cachetools, kind)(maxsize=CAPACITY)
    get = cache.get

    def run(keys: Sequence[int]) -> None:
        for key in keys:
            if get(key) is None:
                cache[key] = key

    return run


def _functools() -> Callable[[Sequence[int]], None]:
    @functools.lru_cache(maxsize=CAPACITY)
    def load(key: int) -> int:
        return key

    def run(keys: Sequence[int]) -> None:
        for key in keys:
            load(key)

    return run


def _theine() -> Callable[[Sequence[int]], None]:
    from theine import Cache as TheineCache

    cache: Any = TheineCache(CAPACITY, nolock=True)
    get = cache.get
    set_ = cache.set

    def run(keys: Sequence[int]) -> None:
        for key in keys:
            if not get(key)[1]:
                set_(key, key)

    return run


def _peer(label: str) -> Callable[[Sequence[int]], None]:
    if label.startswith("cachetools."):
        return _cachetools(label.removeprefix("cachetools."))
    if label == "functools.lru_cache":
        return _functools()
    if label == "theine":
        return _theine()
    raise ValueError(f"no peer called {label!r}")


def cost_rows(requests: int, rounds: int) -> list[dict[str, Any]]:
    """ns per get-or-set for every (ours, peer) pair, all timed round-robin in one run."""
    keys = zipf(requests, ZIPF_KEYS, random.Random(SEED))
    runs: dict[str, Callable[[], object]] = {}
    for policy, peer, _ in PAIRS:
        ours_run = _ours(policy)
        peer_run = _peer(peer)
        runs.setdefault(f"hld {policy}", functools.partial(ours_run, keys))
        runs.setdefault(peer, functools.partial(peer_run, keys))
    timings = interleaved(runs, len(keys), rounds=rounds)
    rows = []
    for policy, peer, target in PAIRS:
        ours_t = timings[f"hld {policy}"]
        peer_t = timings[peer]
        value = ratio(ours_t.ns_per_op_min, peer_t.ns_per_op_min)
        rows.append({
            "kind": "cost", "ours": f"hld {policy}", "peer": peer,
            "ours_ns_per_op": round(ours_t.ns_per_op_min, 1),
            "peer_ns_per_op": round(peer_t.ns_per_op_min, 1),
            "ours_median_ns_per_op": round(ours_t.ns_per_op_median, 1),
            "peer_median_ns_per_op": round(peer_t.ns_per_op_median, 1),
            "ratio": round(value, 3),
            "target": "-" if target is None else (f"< {target}" if target == 1.0
                                                   else f"<= {target}"),
            "target_met": None if target is None else (value < target if target == 1.0
                                                       else value <= target),
        })
    return rows


# -- hit ratios on real traces ------------------------------------------------------------


def _hit_ratio_ours(policy: str, size: int, keys: Sequence[int]) -> float:
    cache = make(policy, size)
    get = cache.get
    put = cache.put
    hits = 0
    for key in keys:
        if get(key) is None:
            put(key, key)
        else:
            hits += 1
    return 100.0 * hits / len(keys)


def _hit_ratio_theine(size: int, keys: Sequence[int]) -> float:
    from theine import Cache as TheineCache

    cache: Any = TheineCache(size, nolock=True)
    get = cache.get
    set_ = cache.set
    hits = 0
    for key in keys:
        if get(key)[1]:
            hits += 1
        else:
            set_(key, key)
    return 100.0 * hits / len(keys)


def traces_folder(given: str | None) -> Path | None:
    if given is not None:
        folder = Path(given)
        if not folder.is_dir():
            raise CLIError(f"--traces {given!r} is not a folder; give the folder holding "
                           f"the cache2k_*.trace.xz files")
        return folder
    for candidate in (Path.cwd().parent / "shared" / "traces",
                      Path(__file__).resolve().parents[4] / "shared" / "traces"):
        if candidate.is_dir():
            return candidate
    return None


def hit_rows(folder: Path, limit: int | None) -> list[dict[str, Any]]:
    rows = []
    for name, file_name in TRACE_FILES.items():
        path = folder / file_name
        if not path.is_file():
            print(f"hld bench cache: {path} not found; skipping {name}", file=sys.stderr)
            continue
        keys = read_cache2k(path, limit=limit)
        for size in KNOWN_TRACE_SIZES[name]:
            ours = _hit_ratio_ours("wtinylfu", size, keys)
            theirs = _hit_ratio_theine(size, keys)
            lru = _hit_ratio_ours("lru", size, keys)
            rows.append({
                "kind": "hit_ratio", "trace": name, "size": size, "requests": len(keys),
                "ours": "hld wtinylfu", "peer": "theine",
                "ours_hit_ratio_pct": round(ours, 2), "peer_hit_ratio_pct": round(theirs, 2),
                "lru_hit_ratio_pct": round(lru, 2),
                "ratio": round(ratio(ours, theirs), 4), "target": ">= 1.0",
                "target_met": ours >= theirs,
            })
    return rows


def run(args: argparse.Namespace) -> int:
    if args.requests is not None and args.requests < 1:
        raise CLIError(f"--requests {args.requests}: give at least 1 request")
    try:
        import cachetools  # noqa: F401
        import theine  # noqa: F401
    except ImportError as exc:
        raise CLIError(f"peer {exc.name!r} is not installed; install the bench extras: "
                       f"pip install -e '.[bench]'") from None
    requests = REQUESTS_QUICK if args.quick else REQUESTS
    rounds = ROUNDS_QUICK if args.quick else ROUNDS
    folder = None if args.no_traces else traces_folder(args.traces)
    rows = cost_rows(requests, rounds)
    trace_rows: list[dict[str, Any]] = []
    if not args.no_traces:
        if folder is None:
            print("hld bench cache: no traces folder (../shared/traces); hit-ratio table "
                  "skipped (give --traces DIR)", file=sys.stderr)
        else:
            limit = args.requests or (TRACE_REQUESTS_QUICK if args.quick else None)
            trace_rows = hit_rows(folder, limit)
    if args.format == "table":
        emit(NAME, rows, "table", columns=COST_COLUMNS,
             title=f"cost per get-or-set, ns (Zipf s=1, {ZIPF_KEYS:,} keys, capacity "
                   f"{CAPACITY:,}, {requests:,} requests x {rounds} rounds; min and median; "
                   f"ratio = ours / peer, lower is better)")
        if trace_rows:
            emit(NAME, trace_rows, "table", columns=HIT_COLUMNS,
                 title="hit ratio % on real traces (ratio = ours / peer, higher is better)")
    else:
        emit(NAME, rows + trace_rows, args.format,
             columns=("kind", *COST_COLUMNS, *[c for c in HIT_COLUMNS
                                               if c not in COST_COLUMNS]))
    return 0
