"""Bounds of the resilience blocks, each with the reason it exists.

Every retry loop, queue and event list in ``hld.core.resilience`` is bounded by one of
these, so a misconfiguration or a flood of failures cannot grow memory or loop forever.
"""

from __future__ import annotations

# A call is never attempted more than this many times, whatever the policy says: beyond a
# few dozen attempts a retry loop is an outage amplifier, not a recovery strategy.
RETRY_ATTEMPTS_MAX = 100

# 2 ** 62 seconds is far beyond any cap; clamping the exponent keeps ``base * 2**n`` a
# finite float for any attempt number instead of raising OverflowError.
BACKOFF_EXPONENT_MAX = 62

# One delay never exceeds a day: a larger cap is almost certainly a unit mistake (ms vs s).
BACKOFF_CAP_S_MAX = 86_400.0

# Retries may be at most ten times the requests in a budget window (Finagle allows up to
# 1000 %); more than that is not a budget.
RETRY_BUDGET_RATIO_MAX = 10.0

# Buckets per sliding window (breaker time windows, retry budgets): resolution vs. the cost
# of sweeping expired buckets.
WINDOW_BUCKETS_MAX = 1_000

# A count-based breaker window holds one small int per call.
WINDOW_CALLS_MAX = 100_000

# State-change events kept for the runtime to drain; older ones are dropped and counted.
BREAKER_EVENTS_MAX = 1_024

# Half-open probes: a breaker that lets thousands of probes at a sick backend is not
# protecting it.
HALF_OPEN_PROBES_MAX = 10_000

# Bulkhead bounds: concurrency and the wait queue are both finite by construction.
BULKHEAD_CONCURRENCY_MAX = 100_000
BULKHEAD_QUEUE_MAX = 1_000_000

# Deadline header: milliseconds remaining as at most 8 decimal digits (about 27 hours),
# the same width gRPC allows for grpc-timeout; longer values are rejected, not parsed.
DEADLINE_HEADER_DIGITS_MAX = 8
