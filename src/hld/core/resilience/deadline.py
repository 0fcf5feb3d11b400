"""Deadlines: absolute points in time that travel with a request.

A timeout is relative and loses meaning as a request crosses processes; a deadline is an
absolute monotonic time, and what is left of it (``remaining_s``) is what a callee gets.
A child call's deadline is ``min(parent, now + timeout)``, so no sub-call can outlive the
request that made it. Across a process boundary the remaining budget travels as whole
milliseconds in a header (as gRPC's ``grpc-timeout`` does), rounded down so the callee
never believes it has more time than the caller; the receiver rebases it on its own clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hld.core.resilience._check import check_non_negative
from hld.core.resilience.errors import DeadlineExceeded, ResilienceConfigError
from hld.core.resilience.limits import DEADLINE_HEADER_DIGITS_MAX

DEADLINE_HEADER = "x-hld-deadline-ms"


class DeadlineHeaderError(ResilienceConfigError):
    """A deadline header from a peer is not a count of milliseconds we accept."""


@dataclass(frozen=True, slots=True)
class Deadline:
    """An absolute deadline on the monotonic clock the caller uses for ``now``."""

    at_s: float

    def __post_init__(self) -> None:
        if isinstance(self.at_s, bool) or not isinstance(self.at_s, int | float) \
                or math.isnan(self.at_s):
            raise ResilienceConfigError(f"deadline must be a number of seconds, got {self.at_s!r}")

    @classmethod
    def after(cls, timeout_s: float, now: float) -> Deadline:
        """The deadline ``timeout_s`` from ``now`` (timeouts are never negative)."""
        return cls(now + check_non_negative("timeout_s", timeout_s))

    def remaining_s(self, now: float) -> float:
        """Seconds left, never negative."""
        left = self.at_s - now
        return max(0.0, left)

    def expired(self, now: float) -> bool:
        return now >= self.at_s

    def check(self, now: float) -> None:
        """Raise ``DeadlineExceeded`` if the deadline has passed."""
        if now >= self.at_s:
            raise DeadlineExceeded(
                f"deadline passed {now - self.at_s:.3f}s ago; the call was not started")

    def child(self, timeout_s: float | None, now: float) -> Deadline:
        """A sub-call's deadline: ``timeout_s`` from now, but never later than this one."""
        if timeout_s is None:
            return self
        own = now + check_non_negative("timeout_s", timeout_s)
        return self if self.at_s <= own else Deadline(own)

    def to_header(self, now: float) -> str:
        """Whole milliseconds remaining (rounded down), for ``DEADLINE_HEADER``."""
        ms = math.floor(self.remaining_s(now) * 1000.0)
        return str(min(ms, 10 ** DEADLINE_HEADER_DIGITS_MAX - 1))

    @classmethod
    def from_header(cls, value: str | bytes, now: float) -> Deadline:
        """Rebase a peer's remaining milliseconds on our clock; strict digits only."""
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
        text = text.strip()
        if not text or not text.isascii() or not text.isdigit():
            raise DeadlineHeaderError(
                f"{DEADLINE_HEADER} must be whole milliseconds (digits only), got {text[:20]!r}")
        if len(text) > DEADLINE_HEADER_DIGITS_MAX:
            raise DeadlineHeaderError(
                f"{DEADLINE_HEADER} has more than {DEADLINE_HEADER_DIGITS_MAX} digits")
        return cls(now + int(text) / 1000.0)


def earliest(first: Deadline | None, second: Deadline | None) -> Deadline | None:
    """The tighter of two optional deadlines."""
    if first is None:
        return second
    if second is None or first.at_s <= second.at_s:
        return first
    return second
