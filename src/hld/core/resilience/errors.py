"""Exceptions of the resilience blocks, split by fault.

``ResilienceConfigError`` and ``IllegalTransition`` are the caller's mistakes (a bad
threshold, a transition the table does not allow). ``CircuitOpenError``,
``BulkheadFullError``, ``DeadlineExceeded`` and ``RetryBudgetExhausted`` are the blocks doing
their job: a call was refused to protect the system, and the caller should degrade.
"""

from __future__ import annotations


class ResilienceError(Exception):
    """Base of every error raised by hld.core.resilience."""


class ResilienceConfigError(ResilienceError, ValueError):
    """A tunable is out of range; the message names it and the accepted range."""


class IllegalTransition(ResilienceError):  # noqa: N818 - the name states the fault exactly
    """A state machine was asked for a transition its table does not contain."""


class CallNotPermitted(ResilienceError):  # noqa: N818
    """A protective block refused the call before it started."""


class CircuitOpenError(CallNotPermitted):
    """The circuit breaker is open (or half-open with every probe slot taken)."""


class BulkheadFullError(CallNotPermitted):
    """Every concurrency slot and every queue place is taken."""


class DeadlineExceeded(CallNotPermitted):
    """The call's deadline has passed (or would pass before the next attempt)."""


class RetryBudgetExhausted(CallNotPermitted):
    """Retries in the window already reached the budget's share of requests."""
