"""Prometheus metrics of the chirp app, in a registry of its own (served at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class AppMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("chirp_http_requests_total", "HTTP requests answered",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("chirp_http_request_seconds", "Time to answer a request",
                                 ["route"], registry=r,
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1,
                                          2.5))
        self.cache = Counter("chirp_cache_requests_total", "Cache node lookups",
                             ["kind", "result"], registry=r)
        self.posts = Counter("chirp_posts_total", "Posts created", registry=r)
        self.wait_short = Counter("chirp_post_wait_short_total",
                                  "Posts acknowledged before wait_replicas replicas had them",
                                  registry=r)
        self.celebrity_merges = Counter("chirp_timeline_celebrity_merges_total",
                                        "Celebrity timelines merged at read time", registry=r)
        self.sse_clients = Gauge("chirp_sse_clients", "Live timeline streams open",
                                 registry=r)
        self.store_errors = Counter("chirp_store_errors_total",
                                    "Requests failed because the store was unreachable",
                                    registry=r)
        self.topology_changes = Counter("chirp_topology_changes_total",
                                        "Store addresses changed (failover)", registry=r)
