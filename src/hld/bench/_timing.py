"""Timing helpers shared by the benchmarks: cost per operation, ours and peers interleaved.

The machines this runs on are small and shared, so a single timing says little. Every
helper here therefore (1) runs a warm-up pass that is not timed, (2) interleaves the
contenders round by round, so a burst of load from elsewhere hits ours and the peer alike
instead of whichever happened to run then, and (3) reports the minimum and the median of
the rounds. The minimum is the best estimate of the true cost (noise only ever adds time),
so ratios are taken between minimums; the median shows how noisy the run was.

Time is the process's CPU time (``time.process_time_ns``), not the wall clock: on a
machine shared by many jobs a process waits for a core for long stretches, which says
nothing about the code. Work a peer pushes to its own threads still counts, since
process CPU time covers every thread.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

ROUNDS_DEFAULT = 5
ROUNDS_MAX = 1_000          # a bound on any timing loop


@dataclass(frozen=True, slots=True)
class Timing:
    """Cost per operation over several timed rounds, in nanoseconds."""

    ns_per_op_min: float
    ns_per_op_median: float
    rounds: int


def time_once(run: Callable[[], object], ops: int) -> float:
    """Nanoseconds per operation of one call of ``run``, which performs ``ops`` operations."""
    if ops < 1:
        raise ValueError(f"ops must be at least 1, got {ops}")
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection landing in one contender's round is noise, not its cost
    try:
        start = time.process_time_ns()
        run()
        elapsed = time.process_time_ns() - start
    finally:
        if gc_was_enabled:
            gc.enable()
    return elapsed / ops


def measure(run: Callable[[], object], ops: int, *, rounds: int = ROUNDS_DEFAULT,
            warmup: bool = True) -> Timing:
    """Time ``run`` (``ops`` operations per call) over ``rounds`` rounds."""
    return interleaved({"only": run}, ops, rounds=rounds, warmup=warmup)["only"]


def interleaved(runs: Mapping[str, Callable[[], object]], ops: int, *,
                rounds: int = ROUNDS_DEFAULT, warmup: bool = True,
                between: Callable[[], object] | None = None) -> dict[str, Timing]:
    """Time every contender in ``runs`` round-robin; each call performs ``ops`` operations.

    ``between`` runs (untimed) before each timed call, e.g. to reset state.
    """
    if not 1 <= rounds <= ROUNDS_MAX:
        raise ValueError(f"rounds must be within 1..{ROUNDS_MAX}, got {rounds}")
    if warmup:
        for run in runs.values():
            run()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for round_index in range(rounds):
        # Alternate the order too, so no contender always runs right after another.
        names = list(runs)
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            if between is not None:
                between()
            samples[name].append(time_once(runs[name], ops))
    return {name: Timing(min(values), statistics.median(values), len(values))
            for name, values in samples.items()}


def ratio(ours: float, peer: float) -> float:
    """ours / peer, NaN when the peer's figure is zero."""
    return ours / peer if peer else float("nan")
