"""Success-path overhead of the resilience wrappers against pybreaker, tenacity and backoff.

What a protected call costs when nothing goes wrong is what every request pays, so this is
the figure that matters: each wrapper decorates the same trivial function, and overhead =
wrapped call - bare call. Targets: our breaker at most 0.5x pybreaker's overhead, our retry
wrapper at most 0.2x tenacity's.

Strategy: the candidates run in interleaved rounds (bare, ours, peer, ...; the order
alternates) in process CPU time with the garbage collector paused (``hld.bench._timing``),
so time spent waiting for a core on a shared machine is not charged to anyone; each
figure is the fastest round, the best estimate of the true cost (noise only adds time).
Wall-clock medians, used before, swung the breaker ratio from 0.06 to 2.8 between runs on
a loaded 2-core machine. circuitbreaker is measured too when it happens to be installed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
from collections.abc import Callable
from typing import Any

from hld.bench._timing import interleaved
from hld.runtime.commands import CLIError
from hld.runtime.report import add_format_argument, emit

NAME = "resilience"
HELP = "breaker and retry success-path overhead vs pybreaker, tenacity, backoff"

ROUNDS_DEFAULT, ROUNDS_QUICK = 9, 3
CALLS_DEFAULT, CALLS_QUICK = 20_000, 2_000  # calls per contender per round
ROUNDS_MAX = 1_000

Fn = Callable[[int], int]


def _target(x: int) -> int:
    return x


def _loop(fn: Fn, calls: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(calls):
            fn(1)
    return run


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _candidates() -> dict[str, Fn]:
    """Every wrapper around the same target, built once."""
    import backoff
    import pybreaker
    import tenacity

    from hld.core.resilience import BreakerConfig, ExponentialBackoff, RetryBudget, RetryPolicy
    from hld.runtime.resilience import Breaker, retry

    policy = RetryPolicy(ExponentialBackoff(0.1, 2.0), max_attempts=3)
    found: dict[str, Fn] = {
        "bare": _target,
        "breaker": Breaker(BreakerConfig())(_target),
        "pybreaker": pybreaker.CircuitBreaker()(_target),
        "retry": retry(policy)(_target),
        "retry+budget": retry(policy, RetryBudget())(_target),
        "tenacity": tenacity.retry(stop=tenacity.stop_after_attempt(3),
                                   wait=tenacity.wait_exponential())(_target),
        "backoff": backoff.on_exception(backoff.expo, Exception, max_tries=3)(_target),
    }
    try:
        import circuitbreaker  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        pass
    else:
        found["circuitbreaker"] = circuitbreaker.circuit()(_target)
    return found


def measure(rounds: int, calls: int) -> dict[str, float]:
    """Fastest-round ns per call of every candidate, in interleaved rounds of CPU time."""
    fns = _candidates()
    for fn in fns.values():  # prove each wrapper returns the right value
        if fn(7) != 7:
            raise RuntimeError("a wrapper changed the result of the call")
    timings = interleaved({name: _loop(fn, calls) for name, fn in fns.items()}, calls,
                          rounds=rounds)
    return {name: timing.ns_per_op_min for name, timing in timings.items()}


PAIRS = (
    # block, ours, peer, peer distribution, target ratio of overheads
    ("breaker", "breaker", "pybreaker", "pybreaker", 0.5),
    ("breaker", "breaker", "circuitbreaker", "circuitbreaker", None),
    ("retry", "retry", "tenacity", "tenacity", 0.2),
    ("retry", "retry+budget", "tenacity", "tenacity", 0.2),
    ("retry", "retry", "backoff", "backoff", None),
    ("retry", "retry+budget", "backoff", "backoff", None),
)


def rows_from(ns: dict[str, float]) -> list[dict[str, Any]]:
    bare = ns["bare"]
    rows = []
    for block, ours, peer, dist, target in PAIRS:
        if ours not in ns or peer not in ns:
            continue
        ours_over = max(ns[ours] - bare, 0.0)
        peer_over = max(ns[peer] - bare, 0.0)
        rows.append({
            "block": block,
            "ours": ours,
            "peer": peer,
            "peer_version": _version(dist),
            "bare_ns": bare,
            "ours_ns": ns[ours],
            "peer_ns": ns[peer],
            "ours_over_ns": ours_over,
            "peer_over_ns": peer_over,
            "ratio": ours_over / peer_over if peer_over > 0 else float("nan"),
            "target_ratio": target if target is not None else float("nan"),
            "meets_target": (ours_over <= target * peer_over) if target is not None else "-",
        })
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="a few short rounds (a smoke test, noisy figures)")
    parser.add_argument("--rounds", type=int, default=None,
                        help=f"interleaved rounds (default: {ROUNDS_DEFAULT}, "
                             f"{ROUNDS_QUICK} with --quick)")
    add_format_argument(parser)


def run(args: argparse.Namespace) -> int:
    rounds = args.rounds if args.rounds is not None else (
        ROUNDS_QUICK if args.quick else ROUNDS_DEFAULT)
    if not 1 <= rounds <= ROUNDS_MAX:
        raise CLIError(f"--rounds {rounds}: must be between 1 and {ROUNDS_MAX}")
    calls = CALLS_QUICK if args.quick else CALLS_DEFAULT
    ns = measure(rounds, calls)
    emit(NAME, rows_from(ns), args.format,
         title=f"success-path cost per call, {calls:,} calls x {rounds} interleaved rounds "
               "(CPU time, fastest round): *_ns = wrapped call, *_over_ns = wrapped - bare; "
               "ratio = ours / peer overhead (lower is better)",
         columns=["block", "ours", "peer", "bare_ns", "ours_ns", "peer_ns", "ours_over_ns",
                  "peer_over_ns", "ratio", "target_ratio", "meets_target"])
    return 0
