"""Gateway metrics: plain counters on the hot path, Prometheus exposition at scrape time.

Incrementing a dict entry costs tens of nanoseconds; a labelled prometheus_client
metric takes a lock and a label lookup per call. So requests update plain dicts, and a
custom collector turns them into metric families only when /metrics is scraped. The
same snapshot feeds the control plane's dashboard (``snapshot()``).
"""

from __future__ import annotations

import bisect
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import CollectorRegistry

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                     2.5, 5.0, 10.0)


class _Histogram:
    __slots__ = ("counts", "sum_s")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS_S) + 1)
        self.sum_s = 0.0

    def observe(self, value_s: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS_S, value_s)] += 1
        self.sum_s += value_s

    def cumulative(self) -> list[tuple[str, float]]:
        out = []
        total = 0
        for bound, count in zip((*LATENCY_BUCKETS_S, float("inf")), self.counts, strict=True):
            total += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), float(total)))
        return out

    def quantile(self, q: float) -> float:
        """An upper-bound estimate from the buckets (what a dashboard needs)."""
        total = sum(self.counts)
        if not total:
            return 0.0
        rank = q * total
        seen = 0
        for bound, count in zip((*LATENCY_BUCKETS_S, LATENCY_BUCKETS_S[-1]), self.counts,
                                strict=True):
            seen += count
            if seen >= rank:
                return bound
        return LATENCY_BUCKETS_S[-1]


class GatewayMetrics:
    """Counters for one worker process."""

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, int], int] = defaultdict(int)  # (route, status)
        self.latency: defaultdict[str, _Histogram] = defaultdict(_Histogram)  # by route
        self.upstream_calls: defaultdict[tuple[str, str, bool], int] = defaultdict(int)
        self.upstream_latency: defaultdict[str, _Histogram] = defaultdict(_Histogram)
        self.rejections: defaultdict[tuple[str, str], int] = defaultdict(int)  # (who, why)
        self.refusals: defaultdict[int, int] = defaultdict(int)
        self.retries: defaultdict[str, int] = defaultdict(int)
        self.cache_hits: defaultdict[tuple[str, bool], int] = defaultdict(int)
        self.gauges: dict[str, Callable[[], list[tuple[dict[str, str], float]]]] = {}

    # -- hot path --------------------------------------------------------------------

    # _Histogram.observe inlined in the two calls made for every request.

    def request(self, route: str, status: int, latency_s: float) -> None:
        self.requests[route, status] += 1
        hist = self.latency[route]
        hist.counts[bisect_left(LATENCY_BUCKETS_S, latency_s)] += 1
        hist.sum_s += latency_s

    def upstream(self, upstream: str, server: str, ok: bool, latency_s: float) -> None:
        self.upstream_calls[upstream, server, ok] += 1
        hist = self.upstream_latency[upstream]
        hist.counts[bisect_left(LATENCY_BUCKETS_S, latency_s)] += 1
        hist.sum_s += latency_s

    def rejected(self, who: str, why: str) -> None:
        self.rejections[who, why] += 1

    def refused(self, status: int) -> None:
        self.refusals[status] += 1

    def retry(self, upstream: str) -> None:
        self.retries[upstream] += 1

    def cache(self, route: str, hit: bool) -> None:
        self.cache_hits[route, hit] += 1

    # -- scraping --------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("hld_gateway_requests", "Requests answered",
                                       labels=["route", "status"])
        for (route, status), count in sorted(self.requests.items()):
            requests.add_metric([route, str(status)], count)
        yield requests
        latency = HistogramMetricFamily("hld_gateway_request_duration_seconds",
                                        "Time from admission to the last response byte",
                                        labels=["route"])
        for route, hist in sorted(self.latency.items()):
            latency.add_metric([route], hist.cumulative(), hist.sum_s)
        yield latency
        calls = CounterMetricFamily("hld_gateway_upstream_attempts", "Attempts per server",
                                    labels=["upstream", "server", "outcome"])
        for (upstream, server, ok), count in sorted(self.upstream_calls.items()):
            calls.add_metric([upstream, server, "ok" if ok else "error"], count)
        yield calls
        rejections = CounterMetricFamily(
            "hld_gateway_rejections", "Requests turned away by a policy",
            labels=["scope", "reason"])
        for (who, why), count in sorted(self.rejections.items()):
            rejections.add_metric([who, why], count)
        yield rejections
        refusals = CounterMetricFamily("hld_gateway_refused", "Requests refused as malformed "
                                       "or unauthorised", labels=["status"])
        for status, count in sorted(self.refusals.items()):
            refusals.add_metric([str(status)], count)
        yield refusals
        retries = CounterMetricFamily("hld_gateway_retries", "Retries sent",
                                      labels=["upstream"])
        for upstream, count in sorted(self.retries.items()):
            retries.add_metric([upstream], count)
        yield retries
        cache = CounterMetricFamily("hld_gateway_cache_lookups", "Response cache lookups",
                                    labels=["route", "result"])
        for (route, hit), count in sorted(self.cache_hits.items()):
            cache.add_metric([route, "hit" if hit else "miss"], count)
        yield cache
        for name, read in self.gauges.items():
            samples = read()
            labels = sorted({k for labels, _ in samples for k in labels})
            gauge = GaugeMetricFamily(name, name.replace("_", " "), labels=labels)
            for sample_labels, value in samples:
                gauge.add_metric([sample_labels.get(k, "") for k in labels], value)
            yield gauge

    def registry(self) -> CollectorRegistry:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        return registry

    def snapshot(self) -> dict[str, Any]:
        """A JSON-friendly summary for the dashboard."""
        total = sum(self.requests.values())
        errors = sum(c for (_, s), c in self.requests.items() if s >= 500)
        merged = _Histogram()
        for hist in self.latency.values():
            merged.counts = [a + b for a, b in zip(merged.counts, hist.counts, strict=True)]
        return {
            "requests": total,
            "errors_5xx": errors,
            "p50_s": merged.quantile(0.5),
            "p99_s": merged.quantile(0.99),
            "rejections": {f"{w}:{y}": c for (w, y), c in self.rejections.items()},
            "cache_hits": sum(c for (_, hit), c in self.cache_hits.items() if hit),
            "cache_lookups": sum(self.cache_hits.values()),
        }
