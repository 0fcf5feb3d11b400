"""Retry policies: capped exponential backoff with or without jitter, and a retry budget.

Backoffs follow the definitions in Marc Brooker's "Exponential Backoff and Jitter" (AWS
Architecture Blog). With ``n`` the number of attempts that have failed so far (1 before
the first retry) and ``ceiling(n) = min(cap, base * 2**n)``:

- none:          0
- exponential:   ceiling(n)
- equal jitter:  ceiling(n)/2 + uniform(0, ceiling(n)/2)
- full jitter:   uniform(0, ceiling(n))
- decorrelated:  min(cap, uniform(base, previous * 3)), previous starting at base

Every delay lies in [0, cap]. Randomness comes from the caller's ``rng`` (anything with
``uniform(a, b)``), so runs are reproducible and the jitter lab can drive the same
policies as the runtime.

``RetryBudget`` keeps retries to a share of requests over a sliding window, with a floor
of ``min_retries_per_s`` so a quiet client can still retry (Finagle's RetryBudget; Envoy's
retry budgets cap retries the same way). Per-request attempt limits stop one call from
looping; the budget stops a fleet of calls from turning a brown-out into a retry storm.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Protocol

from hld.core.resilience._check import check_int, check_non_negative, check_positive
from hld.core.resilience.errors import ResilienceConfigError
from hld.core.resilience.limits import (
    BACKOFF_CAP_S_MAX,
    BACKOFF_EXPONENT_MAX,
    RETRY_ATTEMPTS_MAX,
    RETRY_BUDGET_RATIO_MAX,
    WINDOW_BUCKETS_MAX,
)


class RandomLike(Protocol):
    """What a backoff needs from a random source (``random.Random`` fits)."""

    def uniform(self, a: float, b: float) -> float: ...


class Backoff(ABC):
    """How long to wait before the next attempt."""

    name: ClassVar[str]
    __slots__ = ("base_s", "cap_s")

    def __init__(self, base_s: float = 0.1, cap_s: float = 20.0) -> None:
        self.base_s = check_non_negative("base_s", base_s, maximum=BACKOFF_CAP_S_MAX)
        self.cap_s = check_non_negative("cap_s", cap_s, maximum=BACKOFF_CAP_S_MAX)
        if self.cap_s < self.base_s:
            raise ResilienceConfigError(
                f"cap_s ({cap_s}) must be at least base_s ({base_s})")

    def ceiling_s(self, failures: int) -> float:
        """``min(cap, base * 2**failures)``, finite for any attempt count."""
        exponent = min(BACKOFF_EXPONENT_MAX, failures)
        value = self.base_s * (1 << exponent) if exponent > 0 else self.base_s
        return min(self.cap_s, value)

    @abstractmethod
    def delay_s(self, failures: int, previous_s: float, rng: RandomLike) -> float:
        """Delay before the next attempt after ``failures`` (>= 1) failed attempts;
        ``previous_s`` is the last delay returned (``base_s`` before the first)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_s={self.base_s}, cap_s={self.cap_s})"


class NoBackoff(Backoff):
    """Retry at once."""

    name = "none"
    __slots__ = ()

    def delay_s(self, failures: int, previous_s: float, rng: RandomLike) -> float:
        return 0.0


class ExponentialBackoff(Backoff):
    """Capped exponential backoff without jitter: every client waits the same."""

    name = "exponential"
    __slots__ = ()

    def delay_s(self, failures: int, previous_s: float, rng: RandomLike) -> float:
        return self.ceiling_s(failures)


class EqualJitterBackoff(Backoff):
    """Half the exponential ceiling fixed, half random: never shorter than ceiling/2."""

    name = "equal_jitter"
    __slots__ = ()

    def delay_s(self, failures: int, previous_s: float, rng: RandomLike) -> float:
        half = self.ceiling_s(failures) / 2
        return half + rng.uniform(0.0, half)


class FullJitterBackoff(Backoff):
    """Uniform in [0, ceiling]: the least total work in the AWS experiment."""

    name = "full_jitter"
    __slots__ = ()

    def delay_s(self, failures: int, previous_s: float, rng: RandomLike) -> float:
        return rng.uniform(0.0, self.ceiling_s(failures))


class DecorrelatedJitterBackoff(Backoff):
    """Each delay drawn from [base, 3 * previous], capped: grows without an attempt count."""

    name = "decorrelated_jitter"
    __slots__ = ()

    def delay_s(self, failures: int, previous_s: float, rng: RandomLike) -> float:
        upper = previous_s * 3.0
        upper = max(upper, self.base_s)
        value = rng.uniform(self.base_s, upper)
        return min(self.cap_s, value)


BACKOFFS: dict[str, type[Backoff]] = {
    cls.name: cls for cls in (NoBackoff, ExponentialBackoff, EqualJitterBackoff,
                              FullJitterBackoff, DecorrelatedJitterBackoff)
}


def backoff_named(name: str, base_s: float, cap_s: float) -> Backoff:
    """The backoff called ``name`` (see ``BACKOFFS``)."""
    cls = BACKOFFS.get(name)
    if cls is None:
        raise ResilienceConfigError(
            f"unknown backoff {name!r}; choose one of {', '.join(BACKOFFS)}")
    return cls(base_s, cap_s)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts a call gets and how long to wait between them."""

    backoff: Backoff
    max_attempts: int = 3  # attempts in all, the first one included

    def __post_init__(self) -> None:
        if not isinstance(self.backoff, Backoff):
            raise ResilienceConfigError(
                f"backoff must be a Backoff, got {type(self.backoff).__name__}")
        check_int("max_attempts", self.max_attempts, minimum=1, maximum=RETRY_ATTEMPTS_MAX)

    def next_delay_s(self, failures: int, previous_s: float, rng: RandomLike) -> float | None:
        """The delay before attempt ``failures + 1``, or None when attempts are spent."""
        if failures >= self.max_attempts:
            return None
        return self.backoff.delay_s(failures, previous_s, rng)


@dataclass(frozen=True, slots=True)
class RetryBudgetStatistics:
    requests: int              # in the current window
    retries: int               # granted, in the current window
    retries_denied_total: int
    retries_available: int


class RetryBudget:
    """Retries limited to ``ratio`` x requests over ``window_s``, plus a per-second floor.

    Call ``record_request(now)`` once per logical request (first attempts only) and
    ``try_retry(now)`` before each retry; a False means: give up, the budget is spent.
    Over any bucket-aligned window, granted retries never exceed
    ``ratio * requests + min_retries_per_s * window_s``.
    """

    __slots__ = (
        "_bucket_end_s",
        "_bucket_s",
        "_buckets",
        "_cur_requests",
        "_cur_retries",
        "_denied_total",
        "_epoch",
        "_floor",
        "_idx",
        "_ratio",
        "_req",
        "_requests",
        "_ret",
        "_retries",
        "window_s",
    )

    def __init__(self, *, ratio: float = 0.2, window_s: float = 10.0,
                 min_retries_per_s: float = 10.0, buckets: int = 10) -> None:
        self._ratio = check_non_negative("ratio", ratio, maximum=RETRY_BUDGET_RATIO_MAX)
        self.window_s = check_positive("window_s", window_s)
        floor = check_non_negative("min_retries_per_s", min_retries_per_s)
        self._floor = floor * window_s
        self._buckets = check_int("buckets", buckets, minimum=1, maximum=WINDOW_BUCKETS_MAX)
        self._bucket_s = window_s / buckets
        # Finished buckets live in the rings; the current one in two plain ints, so the
        # per-request path is one comparison and one increment.
        self._req = [0] * buckets
        self._ret = [0] * buckets
        self._requests = 0      # totals of the ring (current bucket excluded)
        self._retries = 0
        self._cur_requests = 0
        self._cur_retries = 0
        self._epoch = 0
        self._idx = 0
        self._bucket_end_s = -math.inf
        self._denied_total = 0

    def _advance(self, now: float) -> None:
        epoch = math.floor(now / self._bucket_s)
        if self._bucket_end_s != -math.inf and epoch <= self._epoch:
            epoch = self._epoch + 1  # now sits on the boundary and the division rounded down
        n = self._buckets
        if self._bucket_end_s == -math.inf or epoch - self._epoch >= n:
            self._req = [0] * n
            self._ret = [0] * n
            self._requests = self._retries = 0
        else:
            # Fold the current bucket into the ring, then clear the buckets skipped over.
            self._req[self._idx] = self._cur_requests
            self._ret[self._idx] = self._cur_retries
            self._requests += self._cur_requests
            self._retries += self._cur_retries
            for step in range(1, epoch - self._epoch + 1):
                i = (self._idx + step) % n
                self._requests -= self._req[i]
                self._retries -= self._ret[i]
                self._req[i] = self._ret[i] = 0
        self._cur_requests = self._cur_retries = 0
        self._epoch = epoch
        self._idx = epoch % n
        self._bucket_end_s = (epoch + 1) * self._bucket_s

    def record_request(self, now: float) -> None:
        if now >= self._bucket_end_s:
            self._advance(now)
        self._cur_requests += 1

    def _available(self) -> float:
        requests = self._requests + self._cur_requests
        retries = self._retries + self._cur_retries
        return self._floor + self._ratio * requests - retries

    def try_retry(self, now: float) -> bool:
        """Take one retry from the budget if one is left."""
        if now >= self._bucket_end_s:
            self._advance(now)
        if self._available() >= 1.0:
            self._cur_retries += 1
            return True
        self._denied_total += 1
        return False

    def statistics(self, now: float | None = None) -> RetryBudgetStatistics:
        if now is not None and now >= self._bucket_end_s:
            self._advance(now)
        return RetryBudgetStatistics(
            requests=self._requests + self._cur_requests,
            retries=self._retries + self._cur_retries,
            retries_denied_total=self._denied_total,
            retries_available=max(0, math.floor(self._available() + 1e-9)))
