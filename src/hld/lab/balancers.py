"""Load balancers under load: a seeded queueing simulation with one degraded backend.

Six backends serve requests, each with a few workers and a FIFO queue in front of them.
They differ in speed (two fast, three medium) and one is degraded: it runs at a fifth of
a medium backend's speed although it is configured with a medium backend's weight, as a
backend with a noisy neighbour or a failing disk would be. Requests arrive as a Poisson
process at a high utilisation of the pool's real capacity; each request carries an amount
of work drawn from an exponential distribution, and takes ``work * service time / speed``
on whichever backend serves it.

Every algorithm sees exactly the same arrivals, work amounts and client addresses
(common random numbers), driven through the real ``hld.core.balance`` classes with the
lifecycle the gateway uses: ``pick`` on arrival, ``on_start``, ``on_finish`` with the
measured latency on completion. Balancers run with their library defaults (EWMA decay
window 10 s, unmeasured RTT 1 s). The resource-based balancer gets each backend's busy
share every ``--report-interval-s`` (1 s), as an agent reporting CPU would; CPU saturates
at 100 % and does not show the queue behind it, which is part of what is measured.

Clients give up after ``--timeout-ms`` (1 s): the balancer then hears a failure, which
is what passive outlier detection counts; one extra row runs weighted round robin with
Envoy's default outlier detection to show what ejection does for a static policy.

Reported per algorithm: latency percentiles from arrival to completion (queueing
included; a timed-out request counts as the timeout), the share of requests that timed
out, the largest number of requests in flight at one backend, and each backend's share
of the requests (as routed). Nothing about which algorithm should win is coded here: the
ranking is whatever the simulation produces.

Strategy: a plain discrete-event loop over a heap of (time, sequence, event) tuples.
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hld.core.balance import (
    Backend,
    Balancer,
    HealthTracker,
    IpHash,
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
from hld.runtime.report import (
    add_format_argument,
    add_plot_argument,
    check_plot_path,
    emit,
    save_plot,
)

NAME = "balancers"
HELP = "p50/p99 latency, max in-flight and shares per balancer, in a queueing simulation"

REQUESTS_DEFAULT = 30_000
REQUESTS_MIN = 200       # fewer and p99 is a single request
REQUESTS_MAX = 2_000_000  # a bound on run time (~11 algorithms x this many events x 3)
UTILISATION_DEFAULT = 0.85
UTILISATION_MIN, UTILISATION_MAX = 0.05, 1.5  # above 1 the pool is overloaded on purpose
SERVICE_TIME_S = 0.020   # mean service time on a backend of speed 1
REPORT_INTERVAL_S = 1.0  # how often backends report their load (resource-based only)
REPORT_INTERVAL_S_MIN, REPORT_INTERVAL_S_MAX = 0.001, 60.0
CLIENTS = 2_000          # distinct client addresses (IP hash)
TIMEOUT_MS_DEFAULT = 1000.0  # the client's (gateway's) upstream timeout
TIMEOUT_MS_MAX = 600_000.0


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """A simulated backend: name, configured weight, real speed and worker count."""

    name: str
    weight: int
    speed: float
    workers: int


SERVERS: tuple[ServerSpec, ...] = (
    ServerSpec("fast1", 2, 2.0, 4),
    ServerSpec("fast2", 2, 2.0, 4),
    ServerSpec("mid1", 1, 1.0, 4),
    ServerSpec("mid2", 1, 1.0, 4),
    ServerSpec("mid3", 1, 1.0, 4),
    ServerSpec("slow", 1, 0.2, 4),  # degraded: configured like a medium one
)

Factory = Callable[[Pool, random.Random], Balancer]

ALGORITHMS: tuple[tuple[str, Factory], ...] = (
    ("round_robin", lambda pool, rng: RoundRobin(pool)),
    ("weighted_round_robin", lambda pool, rng: SmoothWeightedRoundRobin(pool)),
    ("random", lambda pool, rng: RandomBalancer(pool, rng=rng)),
    ("ip_hash", lambda pool, rng: IpHash(pool)),
    ("least_connections", lambda pool, rng: LeastConnections(pool)),
    ("weighted_least_connections", lambda pool, rng: WeightedLeastConnections(pool)),
    ("ewma", lambda pool, rng: LeastResponseTime(pool, peak=False)),
    ("peak_ewma", lambda pool, rng: LeastResponseTime(pool, peak=True)),
    ("resource_based", lambda pool, rng: ResourceBased(pool)),
    ("p2c_in_flight", lambda pool, rng: PowerOfTwoChoices(pool, rng=rng, load="in_flight")),
    ("p2c_peak_ewma", lambda pool, rng: PowerOfTwoChoices(pool, rng=rng, load="peak_ewma")),
    # Weighted round robin again, with passive outlier detection at Envoy's defaults
    # (5 timeouts in a row eject for 30 s, at most 10 % of the pool: one backend here).
    ("weighted_round_robin+outlier",
     lambda pool, rng: SmoothWeightedRoundRobin(
         pool, health=HealthTracker(OutlierDetection()))),
)
ALGORITHM_NAMES = tuple(name for name, _ in ALGORITHMS)

BASE_COLUMNS = ("algorithm", "p50_ms", "p99_ms", "p999_ms", "mean_ms", "max_in_flight",
                "failed_pct")
COLUMNS = (*BASE_COLUMNS, *(f"share_{s.name}_pct" for s in SERVERS))


@dataclass(frozen=True, slots=True)
class Workload:
    """What every algorithm is fed: arrival times, work per request, client addresses."""

    arrivals_s: list[float]
    work: list[float]           # multiples of SERVICE_TIME_S on a speed-1 backend
    clients: list[str]


def capacity_rps(servers: Sequence[ServerSpec] = SERVERS) -> float:
    return sum(s.workers * s.speed for s in servers) / SERVICE_TIME_S


def make_workload(requests: int, utilisation: float, seed: int) -> Workload:
    rng = random.Random(seed)
    rate_rps = utilisation * capacity_rps()
    now, arrivals = 0.0, []
    for _ in range(requests):
        now += rng.expovariate(rate_rps)
        arrivals.append(now)
    work = [rng.expovariate(1.0) for _ in range(requests)]
    clients = [f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
               for i in (rng.randrange(CLIENTS) for _ in range(requests))]
    return Workload(arrivals, work, clients)


class _Server:
    __slots__ = ("busy", "busy_since_s", "busy_time_s", "in_flight", "queue", "served",
                 "spec")

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.busy = 0                      # workers serving now
        self.queue: deque[int] = deque()   # request ids waiting for a worker
        self.in_flight = 0                 # queued + being served
        self.served = 0
        self.busy_time_s = 0.0             # worker-seconds of service so far
        self.busy_since_s = 0.0

    def account(self, now: float) -> None:
        self.busy_time_s += self.busy * (now - self.busy_since_s)
        self.busy_since_s = now


_ARRIVAL, _DONE, _REPORT, _TIMEOUT = 0, 1, 2, 3


def simulate(factory: Factory, workload: Workload, seed: int,
             report_interval_s: float = REPORT_INTERVAL_S,
             timeout_s: float | None = TIMEOUT_MS_DEFAULT / 1000) -> dict[str, Any]:
    """Run one algorithm over ``workload``; return its row.

    With ``timeout_s``, a client gives up on a request after that long: the balancer
    hears ``on_finish(ok=False)`` then (a failure, which outlier detection counts), the
    latency recorded is the timeout, and the backend still does the work, as a real
    one that cannot see the client leave would.
    """
    pool = Pool(Backend(s.name, s.weight) for s in SERVERS)
    balancer = factory(pool, random.Random(seed + 1))
    servers = {s.name: _Server(s) for s in SERVERS}
    backends = {b.name: b for b in pool}
    arrivals, work, clients = workload.arrivals_s, workload.work, workload.clients
    latencies_s = [0.0] * len(arrivals)
    assigned: list[str] = [""] * len(arrivals)
    events: list[tuple[float, int, int, int]] = []  # (time, seq, kind, request id)
    seq = 0
    if arrivals:
        heapq.heappush(events, (arrivals[0], seq, _ARRIVAL, 0))
    report_loads = isinstance(balancer, ResourceBased)
    if report_loads:
        seq += 1
        heapq.heappush(events, (report_interval_s, seq, _REPORT, -1))
    last_report_busy = dict.fromkeys(servers, 0.0)
    max_in_flight = 0
    remaining = len(arrivals)  # requests whose outcome the client has not seen yet
    settled = [False] * len(arrivals)
    failed = 0

    def start_service(server: _Server, rid: int, now: float) -> None:
        nonlocal seq
        server.account(now)
        server.busy += 1
        seq += 1
        done_at = now + work[rid] * SERVICE_TIME_S / server.spec.speed
        heapq.heappush(events, (done_at, seq, _DONE, rid))

    while events and remaining:
        now, _, kind, rid = heapq.heappop(events)
        if kind == _ARRIVAL:
            backend = balancer.pick(Request(client_address=clients[rid]), now)
            balancer.on_start(backend)
            server = servers[backend.name]
            assigned[rid] = backend.name
            server.in_flight += 1
            max_in_flight = max(max_in_flight, server.in_flight)
            if server.busy < server.spec.workers:
                start_service(server, rid, now)
            else:
                server.queue.append(rid)
            if timeout_s is not None:
                seq += 1
                heapq.heappush(events, (now + timeout_s, seq, _TIMEOUT, rid))
            if rid + 1 < len(arrivals):
                seq += 1
                heapq.heappush(events, (arrivals[rid + 1], seq, _ARRIVAL, rid + 1))
        elif kind == _DONE:
            name = assigned[rid]
            server = servers[name]
            server.account(now)
            server.busy -= 1
            server.in_flight -= 1
            server.served += 1
            if server.queue:
                start_service(server, server.queue.popleft(), now)
            if not settled[rid]:
                settled[rid] = True
                remaining -= 1
                latency_s = now - arrivals[rid]
                latencies_s[rid] = latency_s
                balancer.on_finish(backends[name], latency_s, ok=True, now=now)
        elif kind == _TIMEOUT:
            if not settled[rid] and timeout_s is not None:
                settled[rid] = True
                remaining -= 1
                failed += 1
                latencies_s[rid] = timeout_s
                balancer.on_finish(backends[assigned[rid]], timeout_s, ok=False, now=now)
        else:  # _REPORT: each backend's busy share over the last interval, as "cpu"
            assert isinstance(balancer, ResourceBased)
            for name, server in servers.items():
                server.account(now)
                busy_s = server.busy_time_s - last_report_busy[name]
                last_report_busy[name] = server.busy_time_s
                cpu = min(1.0, busy_s / (report_interval_s * server.spec.workers))
                balancer.report_load(name, cpu=cpu, now=now)
            seq += 1
            heapq.heappush(events, (now + report_interval_s, seq, _REPORT, -1))

    ordered = sorted(latencies_s)
    total = len(ordered)
    row: dict[str, Any] = {
        "p50_ms": _quantile(ordered, 0.50) * 1000,
        "p99_ms": _quantile(ordered, 0.99) * 1000,
        "p999_ms": _quantile(ordered, 0.999) * 1000,
        "mean_ms": math.fsum(ordered) / total * 1000 if total else math.nan,
        "max_in_flight": max_in_flight,
        "failed_pct": 100.0 * failed / total if total else math.nan,
    }
    picked = Counter(assigned)
    for name in servers:
        row[f"share_{name}_pct"] = 100.0 * picked[name] / total if total else math.nan
    return row


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of sorted values."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def run_experiment(requests: int, seed: int, *, utilisation: float = UTILISATION_DEFAULT,
                   algorithms: Sequence[str] = ALGORITHM_NAMES,
                   report_interval_s: float = REPORT_INTERVAL_S,
                   timeout_s: float | None = TIMEOUT_MS_DEFAULT / 1000,
                   ) -> list[dict[str, Any]]:
    workload = make_workload(requests, utilisation, seed)
    factories = dict(ALGORITHMS)
    return [{"algorithm": name,
             **simulate(factories[name], workload, seed, report_interval_s, timeout_s)}
            for name in algorithms]


def _parse_algorithms(text: str | None) -> list[str]:
    if text is None:
        return list(ALGORITHM_NAMES)
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in chosen if name not in ALGORITHM_NAMES]
    if unknown or not chosen:
        raise CLIError(f"--algorithms {text!r}: choose from {', '.join(ALGORITHM_NAMES)}")
    return chosen


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=REQUESTS_DEFAULT,
                        help=f"requests per algorithm (default {REQUESTS_DEFAULT:,})")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--utilisation", type=float, default=UTILISATION_DEFAULT,
                        help="offered load / real capacity of the pool "
                             f"(default {UTILISATION_DEFAULT})")
    parser.add_argument("--report-interval-s", type=float, default=REPORT_INTERVAL_S,
                        help="how often backends report load to the resource-based "
                             f"balancer (default {REPORT_INTERVAL_S} s)")
    parser.add_argument("--timeout-ms", type=float, default=TIMEOUT_MS_DEFAULT,
                        help="clients give up after this long; the balancer sees a failure "
                             f"(default {TIMEOUT_MS_DEFAULT:g}; 0 = never)")
    parser.add_argument("--algorithms", default=None, metavar="A,B,...",
                        help=f"comma-separated subset of: {', '.join(ALGORITHM_NAMES)}")
    add_format_argument(parser)
    add_plot_argument(parser)


def _plot(rows: Sequence[dict[str, Any]], path: str) -> None:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    names = [r["algorithm"] for r in rows]
    positions = range(len(rows))
    fig, (ax, ax_busy) = plt.subplots(1, 2, figsize=(15, 5.5),
                                      gridspec_kw={"width_ratios": [3, 2]})
    width = 0.4
    ax.bar([p - width / 2 for p in positions], [r["p50_ms"] for r in rows], width,
           label="p50")
    ax.bar([p + width / 2 for p in positions], [r["p99_ms"] for r in rows], width,
           label="p99")
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_xticks(list(positions), names, rotation=30, ha="right")
    ax.set_title("p50/p99 latency per balancer (a timed-out request counts as the timeout)",
                 fontsize="medium")
    ax.legend()
    bars = ax_busy.bar(list(positions), [r["max_in_flight"] for r in rows], color="tab:gray")
    ax_busy.bar_label(bars, fontsize="small")  # log ticks alone are hard to read
    ax_busy.set_yscale("log")
    ax_busy.yaxis.set_major_formatter(ScalarFormatter())
    ax_busy.yaxis.set_minor_formatter(NullFormatter())
    ax_busy.set_ylabel("requests in flight at one backend (log scale)")
    ax_busy.set_xticks(list(positions), names, rotation=30, ha="right")
    ax_busy.set_title("Max in-flight per balancer", fontsize="medium")
    fig.tight_layout()
    try:
        save_plot(fig, path)
    finally:
        plt.close(fig)


def run(args: argparse.Namespace) -> int:
    if not REQUESTS_MIN <= args.requests <= REQUESTS_MAX:
        raise CLIError(f"--requests {args.requests}: must be between {REQUESTS_MIN:,} "
                       f"and {REQUESTS_MAX:,}")
    utilisation = args.utilisation
    if not (math.isfinite(utilisation) and UTILISATION_MIN <= utilisation <= UTILISATION_MAX):
        raise CLIError(f"--utilisation {utilisation}: must be between {UTILISATION_MIN} "
                       f"and {UTILISATION_MAX}")
    interval_s = args.report_interval_s
    if not (math.isfinite(interval_s)
            and REPORT_INTERVAL_S_MIN <= interval_s <= REPORT_INTERVAL_S_MAX):
        raise CLIError(f"--report-interval-s {interval_s}: must be between "
                       f"{REPORT_INTERVAL_S_MIN} and {REPORT_INTERVAL_S_MAX}")
    timeout_ms = args.timeout_ms
    if not (math.isfinite(timeout_ms) and (timeout_ms == 0 or 1 <= timeout_ms <= TIMEOUT_MS_MAX)):
        raise CLIError(f"--timeout-ms {timeout_ms}: must be 0 (no timeout) or between 1 "
                       f"and {TIMEOUT_MS_MAX:,.0f}")
    algorithms = _parse_algorithms(args.algorithms)
    check_plot_path(args.plot)
    rows = run_experiment(args.requests, args.seed, utilisation=utilisation,
                          algorithms=algorithms, report_interval_s=interval_s,
                          timeout_s=timeout_ms / 1000 if timeout_ms else None)
    rate_rps = utilisation * capacity_rps()
    emit(NAME, rows, args.format, columns=COLUMNS,
         title=(f"{args.requests:,} requests at {rate_rps:,.0f} rps "
                f"({utilisation:.0%} of capacity), seed {args.seed}, timeout "
                f"{f'{timeout_ms:g} ms' if timeout_ms else 'none'}; "
                "backend 'slow' runs at 0.2x a medium one"))
    if args.plot:
        _plot(rows, args.plot)
    return 0
