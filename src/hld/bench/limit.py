"""Rate limiter decisions against limits and throttled-py, in one run.

Every contestant enforces the same quota, 1000 units per second, with in-memory state,
and is called back to back on one key (and, in the keyed rows, round-robin over 1000
keys), so both sides see the same mix of admitted and refused calls. Our limiters take
the time as an argument; the timed call includes reading ``time.monotonic()`` so that
the comparison with peers that read their own clock is fair. Peers are used through their
documented APIs: ``limits.parse`` + ``MemoryStorage`` + ``FixedWindowRateLimiter`` /
``SlidingWindowCounterRateLimiter`` / ``MovingWindowRateLimiter`` (``hit`` answers a bool
only), and throttled-py's ``Throttled(using=..., quota=per_sec(...), store=MemoryStore())``
(``limit`` answers a full state, as ours does).

Timing: rounds of ``--calls`` calls per contestant, interleaved so load from the rest of
the machine hits everyone alike. In-process contestants are timed in process CPU time with
the collector paused and the figure is the fastest round (``hld.bench._timing``); Redis
round trips are timed on the wall clock (the server's work is the cost) as the median
round. Figures are ns per decision.
``ratio`` is ours / peer; ``ratio_vs_limits_fixed`` is ours / limits' fixed window, the
anchor with target <= 0.5. With ``--redis-url`` the Redis backend is also compared with
limits' Redis storage (both one round trip per decision, so the ratios mostly measure the
script's work on top of the network).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable
from typing import Any

from hld.bench._timing import interleaved
from hld.core.limit import KeyedLimiter, make
from hld.runtime.commands import CLIError
from hld.runtime.report import add_format_argument, emit

NAME = "limit"
HELP = "rate limiter decision cost vs limits and throttled-py (and Redis with --redis-url)"

QUOTA_PER_S = 1000
KEYS = 1000
TARGET_RATIO = 0.5
CALLS_DEFAULT, ROUNDS_DEFAULT = 20_000, 7
CALLS_QUICK, ROUNDS_QUICK = 2_000, 3
REDIS_CALLS_DEFAULT, REDIS_CALLS_QUICK = 2_000, 300
# Limits: a run is calls x rounds x contestants decisions; keep it from running for hours.
CALLS_MAX, ROUNDS_MAX = 1_000_000, 50

# (ours, peer) pairs beyond "every algorithm vs limits' fixed window".
PEER_PAIRS = (
    ("sliding_log", "limits moving_window"),
    ("sliding_counter", "limits sliding_window_counter"),
    ("fixed_window", "throttled fixed_window"),
    ("sliding_counter", "throttled sliding_window"),
    ("token_bucket", "throttled token_bucket"),
    ("leaky_meter", "throttled leaking_bucket"),
    ("gcra", "throttled gcra"),
)
KEYED = ("gcra", "token_bucket", "fixed_window", "sliding_counter")

Call = Callable[[], object]
COLUMNS = ["ours", "peer", "ours_ns", "peer_ns", "ratio", "ratio_vs_limits_fixed",
           "target_ratio", "meets_target"]


def _ours(algorithm: str) -> Call:
    limiter = make(algorithm, float(QUOTA_PER_S), QUOTA_PER_S)
    allow = limiter.allow
    clock = time.monotonic
    return lambda: allow(clock())


def _ours_keyed(algorithm: str) -> Call:
    keyed: KeyedLimiter[str] = KeyedLimiter(make(algorithm, float(QUOTA_PER_S), QUOTA_PER_S),
                                            max_keys=2 * KEYS)
    allow = keyed.allow
    keys = itertools.cycle([f"user:{i}" for i in range(KEYS)]).__next__
    clock = time.monotonic
    return lambda: allow(keys(), clock())


def _limits(strategy: str, storage: Any = None, *, keyed: bool = False) -> Call:
    # Each strategy gets its own key: limits' strategies store different Redis types.
    import limits
    import limits.strategies

    classes: dict[str, Any] = {
        "fixed_window": limits.strategies.FixedWindowRateLimiter,
        "sliding_window_counter": limits.strategies.SlidingWindowCounterRateLimiter,
        "moving_window": limits.strategies.MovingWindowRateLimiter,
    }
    if storage is None:
        storage = limits.storage.MemoryStorage()
    hit = classes[strategy](storage).hit
    item = limits.parse(f"{QUOTA_PER_S}/second")
    if keyed:
        keys = itertools.cycle([f"user:{i}" for i in range(KEYS)]).__next__
        return lambda: hit(item, keys())
    return lambda: hit(item, f"user:0:{strategy}")


def _throttled(using: str) -> Call:
    from throttled import MemoryStore, Throttled, rate_limiter

    throttle = Throttled(using=using, quota=rate_limiter.per_sec(QUOTA_PER_S, burst=QUOTA_PER_S),
                         store=MemoryStore())
    limit = throttle.limit
    return lambda: limit("user:0")


def _peer(name: str) -> Call:
    library, strategy = name.split(" ")
    if library == "limits":
        return _limits(strategy)
    return _throttled(strategy)


def _round_ns(call: Call, calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        call()
    return (time.perf_counter_ns() - start) / calls


def _loop(call: Call, calls: int) -> Call:
    def run() -> None:
        for _ in range(calls):
            call()
    return run


def measure(contestants: dict[str, Call], calls: int, rounds: int) -> dict[str, float]:
    """In-process contestants: fastest round of process CPU time, rounds interleaved."""
    timings = interleaved({name: _loop(call, calls) for name, call in contestants.items()},
                          calls, rounds=rounds)
    return {name: timing.ns_per_op_min for name, timing in timings.items()}


def measure_wall(contestants: dict[str, Call], calls: int, rounds: int) -> dict[str, float]:
    """Round trips to Redis: median wall-clock round (CPU time would leave out the server
    and the network, which are most of the cost)."""
    for call in contestants.values():  # warm up: connections, script caches
        _round_ns(call, max(1, calls // 10))
    samples: dict[str, list[float]] = {name: [] for name in contestants}
    for _ in range(rounds):
        for name, call in contestants.items():
            samples[name].append(_round_ns(call, calls))
    return {name: statistics.median(values) for name, values in samples.items()}


def _row(ours: str, peer: str, ours_ns: float, peer_ns: float,
         anchor_ns: float) -> dict[str, Any]:
    vs_anchor = ours_ns / anchor_ns
    return {"ours": ours, "peer": peer, "ours_ns": ours_ns, "peer_ns": peer_ns,
            "ratio": ours_ns / peer_ns, "ratio_vs_limits_fixed": vs_anchor,
            "target_ratio": TARGET_RATIO, "meets_target": vs_anchor <= TARGET_RATIO}


def run_memory(calls: int, rounds: int) -> list[dict[str, Any]]:
    from hld.core.limit import ALGORITHMS

    contestants: dict[str, Call] = {"limits fixed_window": _limits("fixed_window"),
                                    "keyed limits fixed_window":
                                        _limits("fixed_window", keyed=True)}
    for algorithm in ALGORITHMS:
        contestants[algorithm] = _ours(algorithm)
    for algorithm in KEYED:
        contestants[f"keyed {algorithm}"] = _ours_keyed(algorithm)
    for _, peer in PEER_PAIRS:
        contestants.setdefault(peer, _peer(peer))
    ns = measure(contestants, calls, rounds)
    anchor = ns["limits fixed_window"]
    keyed_anchor = ns["keyed limits fixed_window"]
    rows = [_row(a, "limits fixed_window", ns[a], anchor, anchor) for a in ALGORITHMS]
    rows += [_row(f"keyed {a}", "keyed limits fixed_window", ns[f"keyed {a}"], keyed_anchor,
                  keyed_anchor) for a in KEYED]
    rows += [_row(ours, peer, ns[ours], ns[peer], anchor) for ours, peer in PEER_PAIRS]
    return rows


def run_redis(url: str, calls: int, rounds: int) -> list[dict[str, Any]]:
    import redis
    from limits.storage import storage_from_string

    from hld.runtime.limit_redis import RedisLimiter

    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        raise CLIError(f"--redis-url {url!r}: cannot reach Redis ({exc}); start a "
                       "redis-server or drop --redis-url") from None
    try:
        contestants: dict[str, Call] = {
            "limits redis fixed_window": _limits("fixed_window", storage_from_string(url)),
            "limits redis moving_window": _limits("moving_window", storage_from_string(url)),
        }
        for algorithm in ("gcra", "token_bucket", "fixed_window", "sliding_log"):
            remote = RedisLimiter(client, make(algorithm, float(QUOTA_PER_S), QUOTA_PER_S),
                                  prefix="hld:bench:")
            allow = remote.allow
            contestants[f"redis {algorithm}"] = lambda allow=allow: allow("user:0")  # type: ignore[misc]
        ns = measure_wall(contestants, calls, rounds)
    finally:
        client.close()
    anchor = ns["limits redis fixed_window"]
    rows = [_row(f"redis {a}", "limits redis fixed_window", ns[f"redis {a}"], anchor, anchor)
            for a in ("gcra", "token_bucket", "fixed_window")]
    rows.append(_row("redis sliding_log", "limits redis moving_window", ns["redis sliding_log"],
                     ns["limits redis moving_window"], anchor))
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="short runs (noisier figures)")
    parser.add_argument("--calls", type=int, default=None,
                        help=f"calls per contestant per round (default: {CALLS_DEFAULT}, "
                             f"--quick {CALLS_QUICK})")
    parser.add_argument("--rounds", type=int, default=None,
                        help=f"interleaved rounds (default: {ROUNDS_DEFAULT}, "
                             f"--quick {ROUNDS_QUICK})")
    parser.add_argument("--redis-url", default=None, metavar="URL",
                        help="also compare the Redis backend with limits' Redis storage "
                             "(e.g. redis://127.0.0.1:6379/0; keys under hld:bench: and "
                             "LIMITS: are written)")
    add_format_argument(parser)


def run(args: argparse.Namespace) -> int:
    calls = args.calls if args.calls is not None else (
        CALLS_QUICK if args.quick else CALLS_DEFAULT)
    rounds = args.rounds if args.rounds is not None else (
        ROUNDS_QUICK if args.quick else ROUNDS_DEFAULT)
    if not 1 <= calls <= CALLS_MAX:
        raise CLIError(f"--calls {calls}: give a whole number from 1 to {CALLS_MAX}")
    if not 1 <= rounds <= ROUNDS_MAX:
        raise CLIError(f"--rounds {rounds}: give a whole number from 1 to {ROUNDS_MAX}")
    if args.redis_url is not None and not args.redis_url.startswith(("redis://", "rediss://",
                                                                     "unix://")):
        raise CLIError(f"--redis-url {args.redis_url!r}: give a URL such as "
                       "redis://127.0.0.1:6379/0")
    rows = run_memory(calls, rounds)
    if args.redis_url is not None:
        redis_calls = REDIS_CALLS_QUICK if args.quick else REDIS_CALLS_DEFAULT
        rows += run_redis(args.redis_url, min(calls, redis_calls), rounds)
    emit(NAME, rows, args.format, columns=COLUMNS,
         title=f"rate limiter decision cost (ns), {QUOTA_PER_S}/s quota, {rounds} interleaved "
               f"rounds x {calls} calls (in-process: CPU time, fastest round; Redis: wall "
               "clock, median round)")
    return 0
