"""Fallback: what a call returns instead of failing, and for which errors.

A ``Fallback`` pairs a handler (a fixed value, or a function of the exception) with the
exception types it covers; anything else propagates. It is how a protected call degrades
when the breaker is open, the bulkhead is full or the retries are spent: the runtime
wrapper catches, asks ``handles(exc)``, and returns ``recover(exc)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from hld.core.resilience.errors import ResilienceConfigError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Fallback(Generic[T]):
    """Recover from the exceptions in ``on`` with ``handler(exc)``."""

    handler: Callable[[BaseException], T]
    on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if not callable(self.handler):
            raise ResilienceConfigError("fallback handler must be callable")
        if not self.on or not all(isinstance(t, type) and issubclass(t, BaseException)
                                  for t in self.on):
            raise ResilienceConfigError(
                f"fallback 'on' must be a non-empty tuple of exception types, got {self.on!r}")

    @classmethod
    def of_value(cls, value: T, on: tuple[type[BaseException], ...] = (Exception,)
                 ) -> Fallback[T]:
        """Always the same value."""
        return cls(lambda _exc: value, on)

    def handles(self, exc: BaseException) -> bool:
        return isinstance(exc, self.on)

    def recover(self, exc: BaseException) -> T:
        """The fallback value for ``exc``; re-raises ``exc`` if it is not covered."""
        if not isinstance(exc, self.on):
            raise exc
        return self.handler(exc)
