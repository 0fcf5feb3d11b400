"""Resilience blocks, sans-IO: circuit breaker, retry policies and budget, deadlines,
bulkhead and fallback. Time arrives as ``now`` and randomness as ``rng``; the runtime's
``hld.runtime.resilience`` wraps them as sync and asyncio decorators."""

from hld.core.resilience.breaker import (
    TRANSITIONS,
    BreakerConfig,
    BreakerStatistics,
    CircuitBreaker,
    State,
    StateChange,
    Trigger,
    transitions_markdown,
)
from hld.core.resilience.bulkhead import Bulkhead, BulkheadStatistics
from hld.core.resilience.deadline import DEADLINE_HEADER, Deadline, DeadlineHeaderError
from hld.core.resilience.errors import (
    BulkheadFullError,
    CallNotPermitted,
    CircuitOpenError,
    DeadlineExceeded,
    IllegalTransition,
    ResilienceConfigError,
    ResilienceError,
    RetryBudgetExhausted,
)
from hld.core.resilience.fallback import Fallback
from hld.core.resilience.retry import (
    BACKOFFS,
    Backoff,
    DecorrelatedJitterBackoff,
    EqualJitterBackoff,
    ExponentialBackoff,
    FullJitterBackoff,
    NoBackoff,
    RetryBudget,
    RetryPolicy,
    backoff_named,
)

__all__ = [
    "BACKOFFS", "DEADLINE_HEADER", "TRANSITIONS", "Backoff", "BreakerConfig",
    "BreakerStatistics", "Bulkhead", "BulkheadFullError", "BulkheadStatistics",
    "CallNotPermitted", "CircuitBreaker", "CircuitOpenError", "Deadline", "DeadlineExceeded",
    "DeadlineHeaderError", "DecorrelatedJitterBackoff", "EqualJitterBackoff",
    "ExponentialBackoff", "Fallback", "FullJitterBackoff", "IllegalTransition", "NoBackoff",
    "ResilienceConfigError", "ResilienceError", "RetryBudget", "RetryBudgetExhausted",
    "RetryPolicy", "State", "StateChange", "Trigger", "backoff_named", "transitions_markdown",
]
