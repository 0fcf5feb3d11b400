"""Cost of a balancing decision, per policy, with stdlib baselines where one exists.

No Python library implements these policies as a reusable, sans-IO component, so most
rows have no peer and report our cost alone. Two have an honest baseline in the
standard library: round robin against a bare ``itertools.cycle`` (``next(it)``: no pool
changes, no health, no request argument, the floor for "next in turn"), and random
choice against ``random.Random.choice`` / ``choices`` (uniform and weighted). The ratio
for those is ours / baseline: what pool versioning and health awareness cost on top of
the floor.

Two figures per policy: ``ours_ns`` is one ``pick(request, now)``; ``lifecycle_ns`` is
``pick`` + ``on_start`` + ``on_finish``, what the gateway pays per request. Every
balancer has a health tracker with passive outlier detection on (the gateway's setup),
and 10 backends with weights 1..3 unless told otherwise.

Strategy: the same seeded requests go through the same loop for every contender;
contenders are timed in interleaved rounds in process CPU time (``hld.bench._timing``),
and the figure is the fastest round.
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
from collections.abc import Callable, Sequence
from typing import Any

from hld.bench._timing import interleaved
from hld.core.balance import (
    Backend,
    Balancer,
    HealthTracker,
    IpHash,
    KeyHash,
    LeastConnections,
    LeastResponseTime,
    OutlierDetection,
    Pool,
    PowerOfTwoChoices,
    RandomBalancer,
    Request,
    ResourceBased,
    RoundRobin,
    SmoothWeightedRoundRobin,
    WeightedLeastConnections,
)
from hld.runtime.commands import CLIError
from hld.runtime.report import add_format_argument, emit

NAME = "balance"
HELP = "ns per pick and per request lifecycle of every balancer; stdlib baselines"

REQUESTS_DEFAULT, REQUESTS_QUICK = 5_000, 500
ROUNDS_DEFAULT, ROUNDS_QUICK = 7, 3
BACKENDS_DEFAULT = 10
BACKENDS_MIN, BACKENDS_MAX = 2, 1_000
REQUESTS_MAX = 1_000_000
ROUNDS_MAX = 100
NO_PEER = "none (no Python peer)"

COLUMNS = ["block", "ours", "peer", "ours_ns", "peer_ns", "ratio", "lifecycle_ns",
           "ours_ns_median"]

Factory = Callable[[Pool, HealthTracker, random.Random], Balancer]

# (block, factory, baseline name or None)
POLICIES: tuple[tuple[str, Factory, str | None], ...] = (
    ("round_robin", lambda p, h, r: RoundRobin(p, health=h), "itertools.cycle"),
    ("weighted_round_robin", lambda p, h, r: SmoothWeightedRoundRobin(p, health=h), None),
    ("random (weighted)", lambda p, h, r: RandomBalancer(p, rng=r, health=h),
     "random.choices"),
    ("random (uniform)", lambda p, h, r: RandomBalancer(p, rng=r, health=h),
     "random.choice"),
    ("ip_hash", lambda p, h, r: IpHash(p, health=h), None),
    ("key_hash", lambda p, h, r: KeyHash(p, health=h), None),
    ("least_connections", lambda p, h, r: LeastConnections(p, health=h), None),
    ("weighted_least_connections",
     lambda p, h, r: WeightedLeastConnections(p, health=h), None),
    ("ewma", lambda p, h, r: LeastResponseTime(p, health=h), None),
    ("peak_ewma", lambda p, h, r: LeastResponseTime(p, peak=True, health=h), None),
    ("resource_based", lambda p, h, r: ResourceBased(p, health=h), None),
    ("p2c_in_flight", lambda p, h, r: PowerOfTwoChoices(p, rng=r, health=h), None),
    ("p2c_peak_ewma",
     lambda p, h, r: PowerOfTwoChoices(p, rng=r, load="peak_ewma", health=h), None),
)


def make_requests(count: int, seed: int) -> list[Request]:
    rng = random.Random(seed)
    return [Request(client_address=f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
                    key=f"user-{rng.randrange(100_000)}") for _ in range(count)]


def make_pool(backends: int, *, weighted: bool) -> Pool:
    return Pool(Backend(f"app-{i}", 1 + i % 3 if weighted else 1) for i in range(backends))


def _pick_loop(balancer: Balancer, requests: Sequence[Request]) -> Callable[[], None]:
    pick = balancer.pick

    def run() -> None:
        for request in requests:
            pick(request, 1.0)
    return run


def _lifecycle_loop(balancer: Balancer, requests: Sequence[Request]) -> Callable[[], None]:
    pick, start, finish = balancer.pick, balancer.on_start, balancer.on_finish

    def run() -> None:
        for request in requests:
            backend = pick(request, 1.0)
            start(backend)
            finish(backend, 0.004, True, 1.0)
    return run


def _baseline_loop(name: str, pool: Pool, requests: Sequence[Request],
                   seed: int) -> Callable[[], None]:
    backends = list(pool)
    rng = random.Random(seed)
    if name == "itertools.cycle":
        step = itertools.cycle(backends).__next__

        def run_cycle() -> None:
            for _request in requests:
                step()
        return run_cycle
    if name == "random.choice":
        choice = rng.choice

        def run_choice() -> None:
            for _request in requests:
                choice(backends)
        return run_choice
    cumulative = list(itertools.accumulate(b.weight for b in backends))
    choices = rng.choices

    def run_choices() -> None:
        for _request in requests:
            choices(backends, cum_weights=cumulative)
    return run_choices


def measure(requests: int, rounds: int, backends: int, seed: int) -> list[dict[str, Any]]:
    reqs = make_requests(requests, seed)
    rows = []
    for block, factory, baseline in POLICIES:
        weighted = block != "random (uniform)"

        def build(factory: Factory = factory, weighted: bool = weighted) -> Balancer:
            health = HealthTracker(OutlierDetection())
            return factory(make_pool(backends, weighted=weighted), health,
                           random.Random(seed))

        runs = {"pick": _pick_loop(build(), reqs),
                "lifecycle": _lifecycle_loop(build(), reqs)}
        if baseline is not None:
            runs["peer"] = _baseline_loop(baseline, make_pool(backends, weighted=weighted),
                                          reqs, seed)
        figures = interleaved(runs, len(reqs), rounds=rounds)
        ours_ns = figures["pick"].ns_per_op_min
        peer_ns = figures["peer"].ns_per_op_min if baseline is not None else math.nan
        rows.append({
            "block": block,
            "ours": f"hld {block}",
            "peer": baseline if baseline is not None else NO_PEER,
            "ours_ns": ours_ns,
            "peer_ns": peer_ns,
            "ratio": ours_ns / peer_ns if baseline is not None and peer_ns else math.nan,
            "lifecycle_ns": figures["lifecycle"].ns_per_op_min,
            "ours_ns_median": figures["pick"].ns_per_op_median,
        })
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=None,
                        help=f"requests per timed round (default {REQUESTS_DEFAULT:,})")
    parser.add_argument("--rounds", type=int, default=None,
                        help=f"interleaved rounds (default {ROUNDS_DEFAULT})")
    parser.add_argument("--backends", type=int, default=BACKENDS_DEFAULT,
                        help=f"backends in the pool (default {BACKENDS_DEFAULT})")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{REQUESTS_QUICK} requests, {ROUNDS_QUICK} rounds")
    add_format_argument(parser)


def run(args: argparse.Namespace) -> int:
    requests = args.requests if args.requests is not None else (
        REQUESTS_QUICK if args.quick else REQUESTS_DEFAULT)
    rounds = args.rounds if args.rounds is not None else (
        ROUNDS_QUICK if args.quick else ROUNDS_DEFAULT)
    if not 1 <= requests <= REQUESTS_MAX:
        raise CLIError(f"--requests {requests}: must be between 1 and {REQUESTS_MAX:,}")
    if not 1 <= rounds <= ROUNDS_MAX:
        raise CLIError(f"--rounds {rounds}: must be between 1 and {ROUNDS_MAX}")
    if not BACKENDS_MIN <= args.backends <= BACKENDS_MAX:
        raise CLIError(f"--backends {args.backends}: must be between {BACKENDS_MIN} "
                       f"and {BACKENDS_MAX}")
    rows = measure(requests, rounds, args.backends, args.seed)
    emit(NAME, rows, args.format, columns=COLUMNS,
         title=(f"balancer cost, {args.backends} backends, {requests:,} requests x "
                f"{rounds} rounds (CPU time, fastest round); ratio = ours / baseline"))
    return 0
