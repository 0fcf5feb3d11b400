"""Sliding windows of call outcomes for the circuit breaker: by count and by time.

Outcome codes are bit sets: ``FAILED`` (1) and ``SLOW`` (2); 0 is a fast success, by far
the most common outcome, so ``add_ok`` records one with a single integer increment and no
allocation, and returns True only when a verdict may be due: the window has just reached
``minimum`` calls, or (time window) old buckets have just expired. Otherwise a success can
only lower the failure and slow rates, which the breaker need not look at.

The count window numbers calls and keeps only the non-zero outcomes in a deque of
``(seq, code)``; a mark falls out once ``size`` newer calls exist, which ``expire`` applies
before any read. Its ``failed`` and ``slow`` totals may therefore include stale marks until
the next ``expire``. The time window is a ring of per-bucket totals (Hystrix: 10 s in 10
buckets), advanced lazily when a call or a read arrives in a newer bucket; the current
bucket's call count is a plain int folded into the ring when the bucket closes.
"""

from __future__ import annotations

import math
from collections import deque

from hld.core.resilience._check import check_int, check_positive
from hld.core.resilience.limits import WINDOW_BUCKETS_MAX, WINDOW_CALLS_MAX

FAILED = 1
SLOW = 2


class CountWindow:
    """The last ``size`` outcomes."""

    __slots__ = ("_marks", "_min", "_seq", "_size", "failed", "slow")

    def __init__(self, size: int, minimum: int) -> None:
        self._size = check_int("window_calls", size, minimum=1, maximum=WINDOW_CALLS_MAX)
        self._min = minimum
        self._seq = 0  # calls recorded since the last clear
        self._marks: deque[tuple[int, int]] = deque()
        self.failed = 0
        self.slow = 0

    @property
    def calls(self) -> int:
        return min(self._size, self._seq)

    def add_ok(self, now: float) -> bool:
        self._seq += 1
        return self._seq == self._min

    def add(self, code: int, now: float) -> None:
        self._seq += 1
        if code:
            self._marks.append((self._seq, code))
            if code & FAILED:
                self.failed += 1
            if code & SLOW:
                self.slow += 1
        self.expire(now)

    def expire(self, now: float | None) -> None:
        """Drop the marks that more than ``size`` newer calls have pushed out."""
        marks = self._marks
        oldest_kept = self._seq - self._size
        while marks and marks[0][0] <= oldest_kept:
            _, code = marks.popleft()
            if code & FAILED:
                self.failed -= 1
            if code & SLOW:
                self.slow -= 1

    def clear(self) -> None:
        self._marks.clear()
        self._seq = self.failed = self.slow = 0


class TimeWindow:
    """Outcomes of the last ``window_s`` seconds, in ``buckets`` buckets."""

    __slots__ = ("_bucket_end_s", "_bucket_s", "_buckets", "_calls", "_calls_ring", "_cur",
                 "_epoch", "_failed", "_idx", "_min", "_slow", "failed", "slow")

    def __init__(self, window_s: float, buckets: int, minimum: int) -> None:
        window_s = check_positive("window_s", window_s)
        self._buckets = check_int("window_buckets", buckets, minimum=1,
                                  maximum=WINDOW_BUCKETS_MAX)
        self._bucket_s = window_s / buckets
        self._min = minimum
        self._calls = [0] * buckets
        self._failed = [0] * buckets
        self._slow = [0] * buckets
        self._calls_ring = 0   # calls in closed buckets still inside the window
        self._cur = 0          # calls in the current bucket
        self._epoch = 0
        self._idx = 0
        self._bucket_end_s = -math.inf  # the first record sets the epoch
        self.failed = self.slow = 0

    @property
    def calls(self) -> int:
        return self._calls_ring + self._cur

    def expire(self, now: float | None) -> None:
        """Close the current bucket and drop the buckets that ``now`` has left behind."""
        if now is None or now < self._bucket_end_s:
            return
        epoch = math.floor(now / self._bucket_s)
        n = self._buckets
        if self._bucket_end_s == -math.inf or epoch - self._epoch >= n:
            self.clear()
        else:
            self._calls[self._idx] = self._cur
            self._calls_ring += self._cur
            for step in range(1, epoch - self._epoch + 1):
                i = (self._idx + step) % n
                self._calls_ring -= self._calls[i]
                self.failed -= self._failed[i]
                self.slow -= self._slow[i]
                self._calls[i] = self._failed[i] = self._slow[i] = 0
        self._cur = 0
        self._epoch = epoch
        self._idx = epoch % n
        self._bucket_end_s = (epoch + 1) * self._bucket_s

    def add_ok(self, now: float) -> bool:
        if now >= self._bucket_end_s:
            self.expire(now)
            self._cur += 1
            return True  # expired buckets may have raised the rates of what is left
        self._cur += 1
        return self._calls_ring + self._cur == self._min

    def add(self, code: int, now: float) -> None:
        if now >= self._bucket_end_s:
            self.expire(now)
        self._cur += 1
        if code:
            i = self._idx
            if code & FAILED:
                self._failed[i] += 1
                self.failed += 1
            if code & SLOW:
                self._slow[i] += 1
                self.slow += 1

    def clear(self) -> None:
        n = self._buckets
        self._calls = [0] * n
        self._failed = [0] * n
        self._slow = [0] * n
        self._calls_ring = self._cur = 0
        self.failed = self.slow = 0


Window = CountWindow | TimeWindow
