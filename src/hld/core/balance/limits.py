"""Every bound of hld.core.balance in one place, each with its reason."""

from __future__ import annotations

# A pool is a routing table that several policies scan linearly per pick; beyond a few
# thousand members the gateway should shard upstreams instead.
BACKENDS_MAX = 4096
# Weights are small relative integers, as in nginx; the bound keeps smooth weighted
# round robin's running sums small and exact.
WEIGHT_MAX = 1_000_000
# A backend name is a label in metrics and logs, not a document.
NAME_CHARS_MAX = 256
# Ejections longer than a day are indistinguishable from "removed"; an operator should
# remove the backend instead.
EJECTION_TIME_S_MAX = 86_400.0
# A run of failures is counted up to this; the counter must not grow without bound on a
# backend that fails forever while the ejection cap keeps it in rotation.
CONSECUTIVE_FAILURES_MAX = 1_000_000
