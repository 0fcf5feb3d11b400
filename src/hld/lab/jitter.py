"""Exponential backoff and jitter: many clients racing to update one row.

Reproduces the experiment of Marc Brooker's "Exponential Backoff and Jitter" (AWS
Architecture Blog): N clients each want to write one row once, with optimistic
concurrency. A client reads the row's version, then writes if the version is unchanged;
the server accepts the first writer of each version and refuses the rest, and a refused
client backs off and starts over with a fresh read. Every message crosses a network whose
one-way delay is |normal(10 ms, 2 ms)|. Backoff base is 5 ms, cap 2 s. For each strategy
the run reports the completion time (until the last client has succeeded) and the number
of write calls the server handled (the work), averaged over ``--runs`` seeded runs.

Strategy: a discrete-event simulation on a heap of (time, sequence, client, step), with the
delays drawn from hld.core.resilience.retry's backoff policies (the same objects the
runtime's ``@retry`` uses), so the experiment measures our code, not a sketch of it. The
ranking of the strategies is whatever the simulation yields; nothing here assumes it.
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
from collections.abc import Sequence
from typing import Any

from hld.core.resilience.retry import BACKOFFS, Backoff
from hld.runtime.commands import CLIError
from hld.runtime.report import (
    add_format_argument,
    add_plot_argument,
    check_plot_path,
    emit,
    save_plot,
)

NAME = "jitter"
HELP = "AWS 'Exponential Backoff and Jitter': optimistic-concurrency clients, five backoffs"

NET_DELAY_S_MEAN = 0.010
NET_DELAY_S_SD = 0.002
BASE_S = 0.005
CAP_S = 2.0
STRATEGIES = ("none", "exponential", "equal_jitter", "full_jitter", "decorrelated_jitter")
CLIENTS_DEFAULT = (10, 50, 100)
RUNS_DEFAULT = 40

# Limits: with no backoff the work grows as clients squared, so the client count is
# bounded; the event bound stops a pathological configuration from looping for hours.
CLIENTS_MAX = 500
RUNS_MAX = 1_000
EVENTS_MAX_PER_RUN = 5_000_000

# Steps of a client's cycle; each is the arrival of one message.
_READ_AT_SERVER, _READ_REPLY, _WRITE_AT_SERVER, _WRITE_REPLY = range(4)


def simulate(clients: int, backoff: Backoff, rng: random.Random) -> tuple[float, int]:
    """One run: (seconds until every client has written, write calls served)."""
    normal = rng.normalvariate
    mean, sd = NET_DELAY_S_MEAN, NET_DELAY_S_SD
    version = 0
    calls = 0
    failures = [0] * clients
    previous_s = [backoff.base_s] * clients
    seen_version = [0] * clients
    write_ok = [False] * clients
    heap: list[tuple[float, int, int, int]] = []
    seq = 0
    for client in range(clients):
        heap.append((abs(normal(mean, sd)), seq, client, _READ_AT_SERVER))
        seq += 1
    heapq.heapify(heap)
    now = 0.0
    events = 0
    while heap:
        now, _, client, step = heapq.heappop(heap)
        events += 1
        if events > EVENTS_MAX_PER_RUN:
            raise CLIError(f"simulation exceeded {EVENTS_MAX_PER_RUN} events; use fewer clients")
        delay = abs(normal(mean, sd))
        if step == _READ_AT_SERVER:
            seen_version[client] = version
            heapq.heappush(heap, (now + delay, seq, client, _READ_REPLY))
        elif step == _READ_REPLY:
            heapq.heappush(heap, (now + delay, seq, client, _WRITE_AT_SERVER))
        elif step == _WRITE_AT_SERVER:
            calls += 1
            ok = seen_version[client] == version
            if ok:
                version += 1
            write_ok[client] = ok
            heapq.heappush(heap, (now + delay, seq, client, _WRITE_REPLY))
        elif not write_ok[client]:
            failures[client] += 1
            wait_s = backoff.delay_s(failures[client], previous_s[client], rng)
            previous_s[client] = wait_s
            heapq.heappush(heap, (now + delay + wait_s, seq, client, _READ_AT_SERVER))
        seq += 1
    return now, calls


def run_experiment(clients_list: Sequence[int], runs: int, seed: int) -> list[dict[str, Any]]:
    rows = []
    for clients in clients_list:
        for name in STRATEGIES:
            backoff = BACKOFFS[name](BASE_S, CAP_S)
            times_s, calls = [], []
            for run in range(runs):
                rng = random.Random(f"{seed}/{clients}/{name}/{run}")
                elapsed_s, n_calls = simulate(clients, backoff, rng)
                times_s.append(elapsed_s)
                calls.append(n_calls)
            rows.append({
                "clients": clients,
                "strategy": name,
                "completion_ms": statistics.fmean(times_s) * 1000.0,
                "completion_ms_p50": statistics.median(times_s) * 1000.0,
                "calls": statistics.fmean(calls),
                "runs": runs,
            })
    return rows


def _parse_clients(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CLIError(f"--clients {text!r}: give whole numbers separated by commas, "
                       "e.g. 10,50,100") from None
    if not values or any(not 1 <= v <= CLIENTS_MAX for v in values):
        raise CLIError(f"--clients {text!r}: each count must be between 1 and {CLIENTS_MAX}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", default=",".join(map(str, CLIENTS_DEFAULT)),
                        help="comma-separated client counts (default: 10,50,100)")
    parser.add_argument("--runs", type=int, default=RUNS_DEFAULT,
                        help=f"seeded runs averaged per cell (default: {RUNS_DEFAULT})")
    parser.add_argument("--seed", type=int, default=1, help="base seed (default: 1)")
    add_format_argument(parser)
    add_plot_argument(parser)


def _plot(rows: Sequence[dict[str, Any]], path: str) -> None:
    import matplotlib as mpl
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_time, ax_calls) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name in STRATEGIES:
        mine = [r for r in rows if r["strategy"] == name]
        xs = [r["clients"] for r in mine]
        ax_time.plot(xs, [r["completion_ms"] for r in mine], marker="o", label=name)
        ax_calls.plot(xs, [r["calls"] for r in mine], marker="o", label=name)
    ax_time.set(xlabel="clients", ylabel="completion time (ms)", yscale="log",
                title="time until every client wrote")
    ax_calls.set(xlabel="clients", ylabel="write calls", title="work (calls to the server)")
    ax_time.legend()
    fig.tight_layout()
    try:
        save_plot(fig, path)
    finally:
        plt.close(fig)


def run(args: argparse.Namespace) -> int:
    clients = _parse_clients(args.clients)
    if not 1 <= args.runs <= RUNS_MAX:
        raise CLIError(f"--runs {args.runs}: must be between 1 and {RUNS_MAX}")
    check_plot_path(args.plot)
    rows = run_experiment(clients, args.runs, args.seed)
    emit(NAME, rows, args.format, title="exponential backoff and jitter (OCC, one row)",
         columns=["clients", "strategy", "completion_ms", "completion_ms_p50", "calls", "runs"])
    if args.plot:
        _plot(rows, args.plot)
    return 0
