"""Cache hit ratios: replay a trace through every policy and size, side by side.

Each request is a get; on a miss the key is put (the get-or-put pattern of a read-through
cache), so a policy's hit ratio is the share of requests it could answer. Belady's OPT,
which knows the future, is the upper bound every other policy is measured against.

With no ``--trace`` the built-in synthetic workloads are replayed (Zipf, Zipf polluted by
scans, a loop, shifting popularity): no files needed. Real traces: ``--trace PATH`` in
cache2k (xz-compressed big-endian int32), lirs or text format; the cache2k traces in
``../shared/traces`` default to the sizes their authors suggest.

Examples:
  hld lab cache
  hld lab cache --workload zipf-scans --policies lru,sieve,wtinylfu,opt --sizes 100,1000
  hld lab cache --trace ../shared/traces/cache2k_web07.trace.xz --plot web07.png
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hld.core.cache import POLICIES, Cache, make
from hld.lab import traces
from hld.runtime.commands import CLIError
from hld.runtime.report import add_format_argument, add_plot_argument, check_plot_path, emit

NAME = "cache"
HELP = "hit ratios of every cache policy on traces and synthetic workloads"

COLUMNS = ("workload", "policy", "size", "hits", "requests", "hit_ratio_pct")
DEFAULT_REQUESTS = 30_000         # per built-in workload: the default run stays quick
DEFAULT_SEED = 1
PROGRESS_MIN_REQUESTS = 200_000   # shorter runs finish before a progress bar helps
PROGRESS_CHUNK = 20_000           # requests replayed between progress updates
SIZES_MAX = 32                    # sizes per run: each one is a full replay per policy
# Sizes the trace authors suggest for the cache2k traces (see ../shared/traces/README.md).
KNOWN_TRACE_SIZES = {"web07": (300, 1200, 3000), "web12": (300, 1200, 3000),
                     "orm-busy": (625, 2500, 10000), "orm-night": (625, 2500, 10000)}
TRACE_SIZES_DEFAULT = (100, 1000, 10000)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trace", metavar="PATH", default=None,
                        help="replay this trace file instead of the built-in workloads")
    parser.add_argument("--trace-format", choices=("auto", *traces.FORMATS), default="auto",
                        help="format of --trace (default auto: xz-compressed means cache2k, "
                             "anything else is text, one key per line)")
    parser.add_argument("--policies", metavar="A,B,...", default=None,
                        help=f"policies to compare (default: all: {','.join(POLICIES)})")
    parser.add_argument("--sizes", metavar="N,N,...", default=None,
                        help="cache sizes in entries (default: per workload or trace)")
    parser.add_argument("--workload", metavar="NAME[,NAME]", default=None,
                        help=f"built-in workloads to replay (default: all: "
                             f"{','.join(traces.WORKLOADS)})")
    parser.add_argument("--requests", metavar="N", type=int, default=None,
                        help=f"requests per workload (default {DEFAULT_REQUESTS:,}), or the "
                             f"first N requests of --trace (default: all)")
    parser.add_argument("--seed", metavar="N", type=int, default=DEFAULT_SEED,
                        help=f"seed of the synthetic workloads and of random eviction "
                             f"(default {DEFAULT_SEED})")
    add_format_argument(parser)
    add_plot_argument(parser)


# -- argument checks ----------------------------------------------------------------------


def parse_policies(text: str | None) -> list[str]:
    if text is None:
        return list(POLICIES)
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if not names:
        raise CLIError(f"--policies {text!r} names no policy; known: {', '.join(POLICIES)}")
    unknown = [name for name in names if name not in POLICIES]
    if unknown:
        raise CLIError(f"unknown policy {unknown[0]!r}; known policies: {', '.join(POLICIES)}")
    return list(dict.fromkeys(names))


def parse_sizes(text: str | None) -> list[int] | None:
    if text is None:
        return None
    sizes = []
    for part in text.split(","):
        try:
            size = int(part.strip())
        except ValueError:
            raise CLIError(f"--sizes: {part.strip()!r} is not a whole number; give cache "
                           f"sizes in entries, e.g. --sizes 300,1200") from None
        if size < 1:
            raise CLIError(f"--sizes: a cache of {size} entries holds nothing; give sizes of "
                           f"1 or more, e.g. --sizes 300,1200")
        sizes.append(size)
    if len(sizes) > SIZES_MAX:
        raise CLIError(f"--sizes lists {len(sizes)} sizes; give at most {SIZES_MAX}")
    return sorted(set(sizes))


def parse_workloads(text: str | None) -> list[str]:
    if text is None:
        return list(traces.WORKLOADS)
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in traces.WORKLOADS]
    if unknown or not names:
        shown = unknown[0] if unknown else text
        raise CLIError(f"unknown workload {shown!r}; built-in workloads: "
                       f"{', '.join(traces.WORKLOADS)}")
    return list(dict.fromkeys(names))


def trace_label(path: str) -> str:
    """A short name for a trace file: ``cache2k_web07.trace.xz`` -> ``web07``."""
    name = Path(path).name
    for suffix in (".xz", ".trace", ".trc", ".txt"):
        name = name.removesuffix(suffix)
    return name.removeprefix("cache2k_") or name


# -- replay -------------------------------------------------------------------------------


def build(policy: str, size: int, keys: Sequence[int], seed: int) -> Cache[int, int]:
    """The policy ``policy`` with ``size`` entries, given what it needs to replay ``keys``."""
    options: dict[str, Any] = {}
    if policy == "opt":
        options["trace"] = keys
    elif policy == "random":
        options["rng"] = random.Random(seed)
    try:
        return make(policy, size, **options)
    except (TypeError, ValueError) as exc:
        raise CLIError(f"cannot build policy {policy!r} with {size} entries: {exc}") from None


def replay(cache: Cache[int, int], keys: Sequence[int],
           advance: Callable[[int], None] | None = None) -> int:
    """Get-or-put every key in order; returns the hit count. ``advance(n)`` reports progress."""
    get = cache.get
    put = cache.put
    hits = 0
    if advance is None:
        for key in keys:
            if get(key) is None:
                put(key, 1)
            else:
                hits += 1
        return hits
    for start in range(0, len(keys), PROGRESS_CHUNK):
        chunk = keys[start:start + PROGRESS_CHUNK]
        for key in chunk:
            if get(key) is None:
                put(key, 1)
            else:
                hits += 1
        advance(len(chunk))
    return hits


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on stderr for long runs on a terminal; None otherwise."""
    if total < PROGRESS_MIN_REQUESTS or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.percentage:>3.0f}%"), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


def run_experiment(sources: list[tuple[str, Sequence[int], list[int]]], policies: list[str],
                   seed: int) -> list[dict[str, Any]]:
    """Replay each (label, keys, sizes) source through every policy and size."""
    total = sum(len(keys) * len(sizes) * len(policies) for _, keys, sizes in sources)
    rows: list[dict[str, Any]] = []
    with progress_bar(total, "replaying") as advance:
        for label, keys, sizes in sources:
            for policy in policies:
                for size in sizes:
                    hits = replay(build(policy, size, keys, seed), keys, advance)
                    rows.append({"workload": label, "policy": policy, "size": size,
                                 "hits": hits, "requests": len(keys),
                                 "hit_ratio_pct": round(100.0 * hits / len(keys), 2)})
    return rows


def pivot_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per (workload, size): each policy's hit ratio, and the best online policy."""
    policies = list(dict.fromkeys(row["policy"] for row in rows))
    table: dict[tuple[str, int], dict[str, Any]] = {}
    for row in rows:
        line = table.setdefault((row["workload"], row["size"]),
                                {"workload": row["workload"], "size": row["size"]})
        line[row["policy"]] = row["hit_ratio_pct"]
    online = [policy for policy in policies if policy != "opt"]
    columns = ["workload", "size", *policies]
    if len(online) > 1:
        columns.append("best_online")
        for line in table.values():
            line["best_online"] = max(online, key=lambda policy: line[policy])
    return list(table.values()), columns


def requests_note(rows: list[dict[str, Any]]) -> str:
    counts = sorted({row["requests"] for row in rows})
    if len(counts) == 1:
        return f"{counts[0]:,} requests"
    return f"{counts[0]:,} to {counts[-1]:,} requests"


def plot(rows: list[dict[str, Any]], path: str) -> None:
    """Hit ratio against cache size, one line per policy, one panel per workload."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(row["workload"] for row in rows))
    columns = min(2, len(labels))
    lines = (len(labels) + columns - 1) // columns
    figure, axes = plt.subplots(lines, columns, figsize=(6.5 * columns, 4.2 * lines),
                                squeeze=False)
    for index, label in enumerate(labels):
        ax = axes[index // columns][index % columns]
        mine = [row for row in rows if row["workload"] == label]
        for policy in dict.fromkeys(row["policy"] for row in mine):
            points = sorted((row["size"], row["hit_ratio_pct"]) for row in mine
                            if row["policy"] == policy)
            style = {"color": "black", "linestyle": "--"} if policy == "opt" else {}
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                    label=policy, **style)
        ax.set_xscale("log")
        ax.set_title(label)
        ax.set_xlabel("cache size (entries)")
        ax.set_ylabel("hit ratio (%)")
        ax.grid(visible=True, alpha=0.3)
        ax.legend(fontsize="small", ncols=2)
    for index in range(len(labels), lines * columns):
        axes[index // columns][index % columns].set_visible(False)
    figure.tight_layout()
    try:
        figure.savefig(path)
    except OSError as exc:
        raise CLIError(f"--plot {path!r}: cannot write it ({exc.strerror or exc}); "
                       f"check the directory exists and is writable") from None
    finally:
        plt.close(figure)


def run(args: argparse.Namespace) -> int:
    check_plot_path(args.plot)
    policies = parse_policies(args.policies)
    sizes = parse_sizes(args.sizes)
    if args.requests is not None and args.requests < 1:
        raise CLIError(f"--requests {args.requests}: give at least 1 request")
    if args.requests is not None and args.requests > traces.TRACE_REQUESTS_MAX:
        raise CLIError(f"--requests {args.requests:,}: at most "
                       f"{traces.TRACE_REQUESTS_MAX:,} requests fit in memory here")
    sources: list[tuple[str, Sequence[int], list[int]]] = []
    if args.trace is not None:
        if args.workload is not None:
            raise CLIError("give either --trace or --workload, not both")
        keys = traces.read_trace(args.trace, args.trace_format, limit=args.requests)
        label = trace_label(args.trace)
        default = KNOWN_TRACE_SIZES.get(label, TRACE_SIZES_DEFAULT)
        sources.append((label, keys, sizes or list(default)))
    else:
        requests = args.requests or DEFAULT_REQUESTS
        for name in parse_workloads(args.workload):
            spec = traces.WORKLOADS[name]
            sources.append((name, traces.workload(name, requests, args.seed),
                            sizes or list(spec.sizes)))
    rows = run_experiment(sources, policies, args.seed)
    if args.format == "table":
        # For reading, one line per workload and size with the policies side by side;
        # json and csv keep the flat rows.
        pivot, columns = pivot_rows(rows)
        emit(NAME, pivot, "table", columns=columns,
             title=f"hit ratio % per policy (get, then put on a miss; {requests_note(rows)})"
                   + ("; opt = Belady's upper bound" if "opt" in policies else ""))
    else:
        emit(NAME, rows, args.format, columns=COLUMNS)
    if args.plot:
        plot(rows, args.plot)
    return 0
