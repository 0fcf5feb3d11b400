"""The other limiters against exact reference models (hypothesis state machines).

``test_stateful`` checks the token bucket and GCRA; this file covers the rest of the
family: fixed window, sliding-window log, sliding-window counter, the leaky bucket as a
queue, and the leaky bucket as a meter (which must admit exactly what a token bucket
does, so it runs against the same exact bucket model).

Each model restates its algorithm's rule in exact rational arithmetic, as plainly as
possible. Time moves in ticks of 1/1024 s and windows are whole ticks, so every instant
and window edge is exact in binary floating point too: an edge in the model is an edge in
the implementation, and ``allowed`` and ``remaining`` must agree exactly. ``retry_after_s``
is checked by its meaning on a copy of the real limiter: just after it, the same request
passes; just before it, it does not.
"""

from __future__ import annotations

import copy
import math
from fractions import Fraction

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from hld.core.limit import FixedWindow, LeakyMeter, LeakyQueue, Limiter, SlidingCounter, SlidingLog
from tests.core.limit.test_stateful import BucketMachine

TICK = Fraction(1, 1024)
PROBE_S = 1e-6  # far above float drift, far below one tick
TOLERANCE_S = 1e-6


def _floor_positive(value: Fraction) -> int:
    return math.floor(value) if value > 0 else 0


class FixedWindowModel:
    def __init__(self, limit: int, window: Fraction) -> None:
        self.limit, self.window = limit, window
        self.index: int | None = None
        self.count = 0

    def allow(self, now: Fraction, cost: int) -> tuple[bool, int, Fraction]:
        index = math.floor(now / self.window)
        if self.index is None or index > self.index:
            self.index, self.count = index, 0
        end = (self.index + 1) * self.window - now
        if self.count + cost <= self.limit:
            self.count += cost
            return True, self.limit - self.count, end if self.count else Fraction(0)
        return False, self.limit - self.count, end


class SlidingLogModel:
    def __init__(self, limit: int, window: Fraction) -> None:
        self.limit, self.window = limit, window
        self.admitted: list[Fraction] = []  # one entry per admitted unit

    def allow(self, now: Fraction, cost: int) -> tuple[bool, int, Fraction]:
        self.admitted = [t for t in self.admitted if t > now - self.window]
        allowed = len(self.admitted) + cost <= self.limit
        if allowed:
            self.admitted += [now] * cost
        held = len(self.admitted)
        reset = self.admitted[-1] + self.window - now if self.admitted else Fraction(0)
        return allowed, self.limit - held, reset


class SlidingCounterModel:
    def __init__(self, limit: int, window: Fraction) -> None:
        self.limit, self.window = limit, window
        self.counts: dict[int, int] = {}  # admitted units per aligned window

    def allow(self, now: Fraction, cost: int) -> tuple[bool, int, Fraction]:
        index = math.floor(now / self.window)
        if self.counts and index < max(self.counts):
            index = max(self.counts)  # time never runs backwards inside a limiter
        previous = self.counts.get(index - 1, 0)
        current = self.counts.get(index, 0)
        elapsed = now - index * self.window
        estimate = previous * (1 - elapsed / self.window) + current
        allowed = estimate + cost <= self.limit
        if allowed:
            current = self.counts[index] = current + cost
            left = self.limit - estimate - cost
        else:
            left = self.limit - estimate
        if current:
            reset = (index + 2) * self.window - now
        elif previous:
            reset = (index + 1) * self.window - now
        else:
            reset = Fraction(0)
        return allowed, _floor_positive(left), reset


class LeakyQueueModel:
    def __init__(self, rate: Fraction, capacity: int) -> None:
        self.rate, self.capacity = rate, capacity
        self.free_at: Fraction | None = None  # when the queue is empty again

    def allow(self, now: Fraction, cost: int) -> tuple[bool, int, Fraction]:
        start = now if self.free_at is None or self.free_at < now else self.free_at
        backlog = (start - now) * self.rate
        if backlog + cost <= self.capacity:
            self.free_at = start + cost / self.rate
            return True, _floor_positive(self.capacity - backlog - cost), self.free_at - now
        return False, _floor_positive(self.capacity - backlog), start - now


Model = FixedWindowModel | SlidingLogModel | SlidingCounterModel | LeakyQueueModel


class WindowMachine(RuleBasedStateMachine):
    """Drive one limiter and its model with the same requests; compare every decision."""

    kind: str

    @initialize(limit=st.integers(min_value=1, max_value=8),
                window_ticks=st.integers(min_value=16, max_value=2048),
                rate_tenths=st.integers(min_value=1, max_value=200))
    def setup(self, limit: int, window_ticks: int, rate_tenths: int) -> None:
        self.ticks = 1024  # start at t = 1 s
        window = window_ticks * TICK
        self.model: Model
        self.limiter: Limiter
        if self.kind == "fixed_window":
            self.model = FixedWindowModel(limit, window)
            self.limiter = FixedWindow(limit, float(window))
        elif self.kind == "sliding_log":
            self.model = SlidingLogModel(limit, window)
            self.limiter = SlidingLog(limit, float(window))
        elif self.kind == "sliding_counter":
            self.model = SlidingCounterModel(limit, window)
            self.limiter = SlidingCounter(limit, float(window))
        else:
            self.model = LeakyQueueModel(Fraction(rate_tenths, 10), limit)
            self.limiter = LeakyQueue(rate_tenths / 10, limit)

    @rule(step=st.one_of(st.just(0), st.integers(min_value=1, max_value=4096)))
    def wait(self, step: int) -> None:
        self.ticks += step

    @precondition(lambda self: hasattr(self, "model"))
    @rule(cost=st.integers(min_value=0, max_value=10))
    def request(self, cost: int) -> None:
        now = self.ticks * TICK
        before = copy.deepcopy(self.limiter)
        allowed, remaining, reset = self.model.allow(now, cost)
        actual = self.limiter.allow(float(now), cost)
        assert (allowed, remaining) == (actual.allowed, actual.remaining)
        assert abs(float(reset) - actual.reset_after_s) < TOLERANCE_S
        if allowed:
            assert actual.retry_after_s == 0.0
        elif cost > self.limiter.limit:
            assert math.isinf(actual.retry_after_s)
        else:
            self.check_retry_after(before, float(now), cost, actual.retry_after_s)

    @staticmethod
    def check_retry_after(before: Limiter, now: float, cost: int, retry_s: float) -> None:
        """Just after ``retry_s`` the same request passes; just before, it does not."""
        assert 0.0 < retry_s < math.inf
        later = copy.deepcopy(before)
        assert later.allow(now + retry_s + PROBE_S, cost).allowed
        if retry_s > 2 * PROBE_S:
            sooner = copy.deepcopy(before)
            assert not sooner.allow(now + retry_s - PROBE_S, cost).allowed


class FixedWindowMachine(WindowMachine):
    kind = "fixed_window"


class SlidingLogMachine(WindowMachine):
    kind = "sliding_log"


class SlidingCounterMachine(WindowMachine):
    kind = "sliding_counter"


class LeakyQueueMachine(WindowMachine):
    kind = "leaky_queue"


class LeakyMeterMachine(BucketMachine):
    build = LeakyMeter


SETTINGS = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestFixedWindowAgainstModel = FixedWindowMachine.TestCase
TestFixedWindowAgainstModel.settings = SETTINGS
TestSlidingLogAgainstModel = SlidingLogMachine.TestCase
TestSlidingLogAgainstModel.settings = SETTINGS
TestSlidingCounterAgainstModel = SlidingCounterMachine.TestCase
TestSlidingCounterAgainstModel.settings = SETTINGS
TestLeakyQueueAgainstModel = LeakyQueueMachine.TestCase
TestLeakyQueueAgainstModel.settings = SETTINGS
TestLeakyMeterAgainstModel = LeakyMeterMachine.TestCase
TestLeakyMeterAgainstModel.settings = SETTINGS
