"""Rate limiters side by side: the fixed-window edge burst, and admitted vs configured rate.

Every algorithm of ``hld.core.limit`` is built from the same rate ``r`` and burst ``b``
(window algorithms: ``b`` units per window of ``b / r`` seconds) and fed the same seeded
arrivals, with time passed in, so a run takes milliseconds and is exactly repeatable.

Scenarios:

* ``edge_burst``: a client idles, then sends ``2b`` requests just before a window edge and
  ``2b`` just after it (1 % of a window either side), at several edges. A fixed window
  resets its counter at the edge, so it can admit up to twice its limit within one
  window's span; the algorithms that remember the recent past cannot.
* ``steady_2x``: Poisson arrivals at twice the configured rate for ``--seconds``.
* ``bursty``: on/off traffic: 1 s at five times the rate, then 1 to 3 s of silence (seeded
  uniform), so bursts fall at any phase of the windows.

For each it reports the offered and admitted rates, the admitted share of the configured
rate, and the most units admitted within any span of one window (``max_in_window``)
against the per-window limit ``b`` and each algorithm's worst-case bound
``r * window + burst_max``. Every figure comes from running the limiters.
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Sequence
from typing import Any

from hld.core.limit import ALGORITHMS, make
from hld.runtime.commands import CLIError
from hld.runtime.report import (
    add_format_argument,
    add_plot_argument,
    check_plot_path,
    emit,
    save_plot,
)

NAME = "limiters"
HELP = "rate limiters: fixed-window edge burst; admitted vs configured rate under load"

RATE_PER_S_DEFAULT = 10.0
BURST_DEFAULT = 10
SECONDS_DEFAULT = 120.0
SCENARIOS = ("edge_burst", "steady_2x", "bursty")
EDGES = 5  # window edges attacked in edge_burst, ten windows apart
EDGE_OFFSET_SHARE = 0.01  # how far before/after the edge the two salvos land (of a window)
BURSTY_ON_S, BURSTY_FACTOR = 1.0, 5.0
BURSTY_OFF_S_MIN, BURSTY_OFF_S_MAX = 1.0, 3.0

# Limits: arrivals are held in memory, so the run length and rate are bounded.
RATE_PER_S_MAX = 10_000.0
BURST_MAX = 10_000
SECONDS_MAX = 3_600.0
ARRIVALS_MAX = 2_000_000

COLUMNS = ["scenario", "algorithm", "offered_rps", "admitted_rps", "configured_rps",
           "admitted_ratio", "max_in_window", "window_limit", "max_in_window_ratio",
           "bound_in_window"]


def edge_burst_arrivals(rate_per_s: float, burst: int) -> list[float]:
    window_s = burst / rate_per_s
    offset_s = window_s * EDGE_OFFSET_SHARE
    times: list[float] = []
    for k in range(1, EDGES + 1):
        edge = 10 * k * window_s
        times += [edge - offset_s] * (2 * burst)
        times += [edge + offset_s] * (2 * burst)
    return times


def poisson_arrivals(rate_per_s: float, start_s: float, end_s: float,
                     rng: random.Random) -> list[float]:
    times = []
    now = start_s + rng.expovariate(rate_per_s)
    while now < end_s:
        times.append(now)
        now += rng.expovariate(rate_per_s)
    return times


def bursty_arrivals(rate_per_s: float, seconds: float, rng: random.Random) -> list[float]:
    times: list[float] = []
    start = 0.0
    while start < seconds:
        on_end = min(start + BURSTY_ON_S, seconds)
        times += poisson_arrivals(rate_per_s * BURSTY_FACTOR, start, on_end, rng)
        start += BURSTY_ON_S + rng.uniform(BURSTY_OFF_S_MIN, BURSTY_OFF_S_MAX)
    return times


def max_in_span(admitted: Sequence[float], span_s: float) -> int:
    """Most admissions within any half-open span ``[t, t + span_s)``."""
    best = 0
    first = 0
    for last, t in enumerate(admitted):
        while t - admitted[first] >= span_s:
            first += 1
        best = max(best, last - first + 1)
    return best


def measure(algorithm: str, rate_per_s: float, burst: int, arrivals: Sequence[float],
            duration_s: float) -> dict[str, Any]:
    limiter = make(algorithm, rate_per_s, burst)
    allow = limiter.allow
    admitted = [t for t in arrivals if allow(t).allowed]
    window_s = burst / rate_per_s
    in_window = max_in_span(admitted, window_s)
    admitted_rps = len(admitted) / duration_s
    return {
        "algorithm": algorithm,
        "offered_rps": len(arrivals) / duration_s,
        "admitted_rps": admitted_rps,
        "configured_rps": rate_per_s,
        "admitted_ratio": admitted_rps / rate_per_s,
        "max_in_window": in_window,
        "window_limit": burst,
        "max_in_window_ratio": in_window / burst,
        "bound_in_window": limiter.rate_per_s * window_s + limiter.burst_max,
    }


def run_experiment(rate_per_s: float, burst: int, seconds: float,
                   seed: int) -> list[dict[str, Any]]:
    window_s = burst / rate_per_s
    workloads = {
        "edge_burst": (edge_burst_arrivals(rate_per_s, burst), 10 * (EDGES + 1) * window_s),
        "steady_2x": (poisson_arrivals(2 * rate_per_s, 0.0, seconds,
                                       random.Random(f"{seed}/steady")), seconds),
        "bursty": (bursty_arrivals(rate_per_s, seconds, random.Random(f"{seed}/bursty")),
                   seconds),
    }
    rows: list[dict[str, Any]] = []
    for scenario, (arrivals, duration_s) in workloads.items():
        if len(arrivals) > ARRIVALS_MAX:
            raise CLIError(f"{scenario} would need {len(arrivals):,} arrivals (bound "
                           f"{ARRIVALS_MAX:,}); lower --rate or --seconds")
        rows.extend({"scenario": scenario,
                     **measure(algorithm, rate_per_s, burst, arrivals, duration_s)}
                    for algorithm in ALGORITHMS)
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, default=RATE_PER_S_DEFAULT,
                        help=f"configured rate, units per second (default: {RATE_PER_S_DEFAULT:g})")
    parser.add_argument("--burst", type=int, default=BURST_DEFAULT,
                        help=f"burst / per-window limit (default: {BURST_DEFAULT})")
    parser.add_argument("--seconds", type=float, default=SECONDS_DEFAULT,
                        help=f"simulated seconds of load (default: {SECONDS_DEFAULT:g})")
    parser.add_argument("--seed", type=int, default=1, help="seed of the arrivals (default: 1)")
    add_format_argument(parser)
    add_plot_argument(parser)


def _check(args: argparse.Namespace) -> None:
    if not (math.isfinite(args.rate) and 0 < args.rate <= RATE_PER_S_MAX):
        raise CLIError(f"--rate {args.rate}: give a rate above 0 and at most {RATE_PER_S_MAX:g}")
    if not 1 <= args.burst <= BURST_MAX:
        raise CLIError(f"--burst {args.burst}: give a whole number from 1 to {BURST_MAX}")
    if not (math.isfinite(args.seconds) and 1 <= args.seconds <= SECONDS_MAX):
        raise CLIError(f"--seconds {args.seconds}: give a duration from 1 to {SECONDS_MAX:g}")
    check_plot_path(args.plot)


def _plot(rows: Sequence[dict[str, Any]], path: str) -> None:
    import matplotlib as mpl
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_edge, ax_rate) = plt.subplots(1, 2, figsize=(12, 4.5))
    edge = [r for r in rows if r["scenario"] == "edge_burst"]
    names = [r["algorithm"] for r in edge]
    ax_edge.bar(names, [r["max_in_window_ratio"] for r in edge], color="tab:red")
    ax_edge.axhline(1.0, color="black", linewidth=0.8)
    ax_edge.set(ylabel="most admitted in one window / limit",
                title="edge burst: salvos either side of a window edge")
    ax_edge.tick_params(axis="x", rotation=35)
    width = 0.38
    xs = range(len(ALGORITHMS))
    for shift, scenario in ((-width / 2, "steady_2x"), (width / 2, "bursty")):
        mine = {r["algorithm"]: r["admitted_ratio"] for r in rows if r["scenario"] == scenario}
        ax_rate.bar([x + shift for x in xs], [mine[a] for a in ALGORITHMS], width,
                    label=scenario)
    ax_rate.axhline(1.0, color="black", linewidth=0.8)
    ax_rate.set_xticks(list(xs), list(ALGORITHMS), rotation=35)
    ax_rate.set(ylabel="admitted / configured rate", title="admitted rate under load")
    ax_rate.legend()
    fig.tight_layout()
    try:
        save_plot(fig, path)
    finally:
        plt.close(fig)


def run(args: argparse.Namespace) -> int:
    _check(args)
    rows = run_experiment(args.rate, args.burst, args.seconds, args.seed)
    emit(NAME, rows, args.format, columns=COLUMNS,
         title=f"rate limiters at {args.rate:g}/s, burst {args.burst} "
               f"(window {args.burst / args.rate:g} s)")
    if args.plot:
        _plot(rows, args.plot)
    return 0
