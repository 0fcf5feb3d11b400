"""Sync and asyncio wrappers over the resilience cores, on a manual clock (no real waits)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hld.core.resilience import (
    BACKOFFS,
    BreakerConfig,
    BulkheadFullError,
    CircuitOpenError,
    Deadline,
    DeadlineExceeded,
    ExponentialBackoff,
    Fallback,
    NoBackoff,
    ResilienceConfigError,
    RetryBudget,
    RetryBudgetExhausted,
    RetryPolicy,
    State,
    backoff_named,
)
from hld.runtime.resilience import (
    AsyncBulkhead,
    Breaker,
    current_deadline,
    deadline,
    fallback,
    remaining_s,
    retry,
)


class ManualClock:
    """Time that moves only when told to; ``sleep`` advances it and records the wait."""

    def __init__(self, start_s: float = 100.0) -> None:
        self.now = start_s
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


def tiny_breaker(clock: ManualClock, **overrides: object) -> Breaker:
    values: dict[str, object] = {"window_calls": 4, "minimum_calls": 4, "open_s": 30.0,
                                 "half_open_probes": 1, "slow_call_duration_s": 2.0}
    values.update(overrides)
    return Breaker(BreakerConfig(**values), clock=clock)  # type: ignore[arg-type]


def flaky(failures: int, exc: type[Exception] = ConnectionError) -> Callable[[], str]:
    """A callable that fails ``failures`` times, then answers "ok"; counts its calls."""
    state = {"calls": 0}

    def call() -> str:
        state["calls"] += 1
        if state["calls"] <= failures:
            raise exc(f"failure {state['calls']}")
        return "ok"

    call.state = state  # type: ignore[attr-defined]
    return call


def calls_of(fn: Callable[..., object]) -> int:
    return int(fn.state["calls"])  # type: ignore[attr-defined]


# -- breaker -----------------------------------------------------------------------------

def test_breaker_opens_after_failures_and_refuses_without_calling() -> None:
    clock = ManualClock()
    breaker = tiny_breaker(clock)
    target = flaky(10)
    protected = breaker(target)
    for _ in range(4):
        with pytest.raises(ConnectionError):
            protected()
    assert breaker.core.state is State.OPEN
    with pytest.raises(CircuitOpenError):
        protected()
    assert calls_of(target) == 4


def test_breaker_probes_after_the_open_period_and_closes_on_success() -> None:
    clock = ManualClock()
    breaker = tiny_breaker(clock)
    answers = iter([ValueError("a")] * 4 + ["fine"])

    @breaker
    def call() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    for _ in range(4):
        with pytest.raises(ValueError, match="a"):
            call()
    clock.now += 30.0
    assert call() == "fine"
    assert breaker.core.state is State.CLOSED


def test_breaker_times_calls_with_the_injected_clock() -> None:
    clock = ManualClock()
    breaker = tiny_breaker(clock, slow_call_rate_threshold_pct=50.0)

    @breaker
    def slow() -> int:
        clock.now += 5.0  # the call "takes" five seconds
        return 1

    for _ in range(4):
        slow()
    assert breaker.core.state is State.OPEN


def test_ignored_errors_do_not_count() -> None:
    clock = ManualClock()
    breaker = Breaker(BreakerConfig(window_calls=2, minimum_calls=2), clock=clock,
                      ignore_on=(KeyError,))
    protected = breaker(flaky(10, KeyError))
    for _ in range(5):
        with pytest.raises(KeyError):
            protected()
    assert breaker.core.statistics().calls == 0


def test_async_breaker_and_guards_share_the_core() -> None:
    clock = ManualClock()
    breaker = tiny_breaker(clock)

    @breaker
    async def failing() -> None:
        raise TimeoutError

    async def scenario() -> None:
        for _ in range(3):
            with pytest.raises(TimeoutError):
                await failing()
        with pytest.raises(RuntimeError):
            async with breaker.guard_async():
                raise RuntimeError
        assert breaker.core.state is State.OPEN
        with pytest.raises(CircuitOpenError):
            await failing()
        with pytest.raises(CircuitOpenError), breaker.guard():
            pass

    asyncio.run(scenario())


# -- retry -------------------------------------------------------------------------------

def test_retry_waits_the_policy_delays_then_succeeds() -> None:
    clock = ManualClock()
    policy = RetryPolicy(ExponentialBackoff(0.1, 10.0), max_attempts=4)
    target = flaky(2)
    wrapped = retry(policy, clock=clock, sleep=clock.sleep)(target)
    assert wrapped() == "ok"
    assert clock.slept == [0.2, 0.4]
    assert calls_of(target) == 3


def test_retry_gives_up_with_the_last_error_after_max_attempts() -> None:
    clock = ManualClock()
    target = flaky(10)
    wrapped = retry(RetryPolicy(NoBackoff(), max_attempts=3), clock=clock,
                    sleep=clock.sleep)(target)
    with pytest.raises(ConnectionError, match="failure 3"):
        wrapped()
    assert calls_of(target) == 3


def test_retry_only_on_listed_errors() -> None:
    clock = ManualClock()
    target = flaky(1, KeyError)
    wrapped = retry(RetryPolicy(NoBackoff(), 5), retry_on=(ConnectionError,), clock=clock,
                    sleep=clock.sleep)(target)
    with pytest.raises(KeyError):
        wrapped()
    assert calls_of(target) == 1


def test_retry_budget_stops_a_storm() -> None:
    clock = ManualClock()
    budget = RetryBudget(ratio=0.1, window_s=10.0, min_retries_per_s=0.0)
    wrapped = retry(RetryPolicy(NoBackoff(), 3), budget, clock=clock,
                    sleep=clock.sleep)(flaky(10**6))
    exhausted = 0
    for _ in range(100):
        with pytest.raises((ConnectionError, RetryBudgetExhausted)) as info:
            wrapped()
        exhausted += isinstance(info.value, RetryBudgetExhausted)
    stats = budget.statistics()
    assert stats.requests == 100
    assert stats.retries <= 10
    assert exhausted >= 90


def test_retry_refuses_to_start_past_the_deadline() -> None:
    clock = ManualClock()
    target = flaky(0)
    wrapped = retry(RetryPolicy(NoBackoff(), 3), clock=clock, sleep=clock.sleep)(target)
    with deadline(1.0, clock=clock):
        clock.now += 1.0
        with pytest.raises(DeadlineExceeded):
            wrapped()
    assert calls_of(target) == 0


def test_retry_does_not_sleep_past_the_deadline() -> None:
    clock = ManualClock()
    target = flaky(10)
    wrapped = retry(RetryPolicy(ExponentialBackoff(1.0, 60.0), 10), clock=clock,
                    sleep=clock.sleep)(target)
    with deadline(5.0, clock=clock), pytest.raises(DeadlineExceeded) as info:
        wrapped()
    assert clock.slept == [2.0]  # the next wait (4 s) would cross the deadline
    assert isinstance(info.value.__cause__, ConnectionError)


def test_async_retry_uses_the_injected_sleep() -> None:
    clock = ManualClock()
    state = {"calls": 0}

    @retry(RetryPolicy(ExponentialBackoff(0.5, 1.0), 5), clock=clock,
           async_sleep=clock.async_sleep, rng=random.Random(0))
    async def call() -> int:
        state["calls"] += 1
        if state["calls"] < 4:
            raise ConnectionError
        return state["calls"]

    assert asyncio.run(call()) == 4
    assert clock.slept == [1.0, 1.0, 1.0]


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(BACKOFFS)), attempts=st.integers(1, 8),
       failures=st.integers(0, 12), seed=st.integers(0, 1000))
def test_retry_attempts_and_waits_stay_within_the_policy(name: str, attempts: int,
                                                          failures: int, seed: int) -> None:
    clock = ManualClock()
    backoff = backoff_named(name, 0.05, 1.0)
    target = flaky(failures)
    wrapped = retry(RetryPolicy(backoff, attempts), clock=clock, sleep=clock.sleep,
                    rng=random.Random(seed))(target)
    if failures < attempts:
        assert wrapped() == "ok"
    else:
        with pytest.raises(ConnectionError):
            wrapped()
    assert calls_of(target) == min(failures + 1, attempts)
    assert len(clock.slept) == calls_of(target) - 1
    assert all(0.0 <= s <= 1.0 for s in clock.slept)


@pytest.mark.parametrize("bad", [(), ("ConnectionError",), [ConnectionError], (int,)])
def test_retry_refuses_bad_error_lists_when_decorating(bad: object) -> None:
    with pytest.raises(ResilienceConfigError, match="retry_on"):
        retry(RetryPolicy(NoBackoff()), retry_on=bad)  # type: ignore[arg-type]


def test_bad_wrapper_settings_are_refused() -> None:
    with pytest.raises(ResilienceConfigError, match="ignore_on"):
        Breaker(ignore_on=(KeyError, "x"))  # type: ignore[arg-type]
    with pytest.raises(ResilienceConfigError, match="max_wait_s"):
        AsyncBulkhead(1, 1, max_wait_s=-1.0)


# -- deadlines ---------------------------------------------------------------------------

def test_nested_deadlines_never_outlive_the_parent_and_unwind() -> None:
    clock = ManualClock(0.0)
    assert current_deadline() is None
    with deadline(5.0, clock=clock) as outer:
        with deadline(60.0, clock=clock) as inner:
            assert inner == outer
            assert remaining_s(clock) == 5.0
        with deadline(1.0, clock=clock) as tighter:
            assert tighter == Deadline(1.0)
        assert current_deadline() == outer
    assert current_deadline() is None


def test_deadline_from_a_peer_header_propagates() -> None:
    clock = ManualClock(10.0)
    received = Deadline.from_header("1500", now=clock())
    with deadline(at=received, clock=clock), deadline(5.0, clock=clock) as child:
        assert child == Deadline(11.5)


def test_entering_an_expired_deadline_raises_before_the_body() -> None:
    clock = ManualClock(0.0)
    ran = []
    with deadline(1.0, clock=clock):
        clock.now = 2.0
        with pytest.raises(DeadlineExceeded), deadline(10.0, clock=clock):
            ran.append(True)
    assert ran == []


def test_deadline_follows_into_tasks_and_cancels_the_body() -> None:
    clock = ManualClock(0.0)

    async def child() -> Deadline | None:
        return current_deadline()

    async def scenario() -> None:
        async with deadline(0.001, clock=clock) as dl:
            assert await asyncio.create_task(child()) == dl
        with pytest.raises(DeadlineExceeded):
            async with deadline(0.001, clock=clock):
                await asyncio.Event().wait()  # never set: only the deadline ends it
        assert current_deadline() is None

    asyncio.run(scenario())


# -- bulkhead ----------------------------------------------------------------------------

@pytest.mark.parametrize(("limit", "queue", "callers"), [(1, 0, 5), (3, 5, 20), (4, 2, 4)])
def test_bulkhead_never_exceeds_concurrency_or_queue(limit: int, queue: int,
                                                     callers: int) -> None:
    async def scenario() -> tuple[int, int, int]:
        bulkhead = AsyncBulkhead(limit, queue)
        gate = asyncio.Event()
        running = peak = done = 0

        async def worker() -> None:
            nonlocal running, peak, done
            async with bulkhead:
                running += 1
                peak = max(peak, running)
                await gate.wait()
                running -= 1
                done += 1

        tasks = [asyncio.create_task(worker()) for _ in range(callers)]
        await asyncio.sleep(0)
        assert bulkhead.core.in_flight <= limit
        assert bulkhead.core.queued <= queue
        gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        rejected = sum(isinstance(r, BulkheadFullError) for r in results)
        return peak, done, rejected

    peak, done, rejected = asyncio.run(scenario())
    admitted = min(callers, limit + queue)
    assert (peak, done, rejected) == (min(limit, callers), admitted, callers - admitted)


def test_cancelled_waiter_leaves_the_queue_and_the_slot_moves_on() -> None:
    async def scenario() -> list[str]:
        bulkhead = AsyncBulkhead(1, 2)
        order: list[str] = []
        gate = asyncio.Event()

        async def worker(name: str) -> None:
            async with bulkhead:
                order.append(name)
                await gate.wait()

        first = asyncio.create_task(worker("first"))
        await asyncio.sleep(0)
        quitter = asyncio.create_task(worker("quitter"))
        patient = asyncio.create_task(worker("patient"))
        await asyncio.sleep(0)
        quitter.cancel()
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(first, patient)
        assert bulkhead.core.statistics().in_flight == 0
        return order

    assert asyncio.run(scenario()) == ["first", "patient"]


@settings(max_examples=40, deadline=None)
@given(limit=st.integers(1, 3), queue=st.integers(0, 3),
       steps=st.lists(st.sampled_from(["arrive", "finish", "cancel"]), max_size=30))
def test_bulkhead_bounds_hold_under_any_interleaving(limit: int, queue: int,
                                                     steps: list[str]) -> None:
    """Arrivals, completions and cancellations in any order: the bounds always hold."""

    async def scenario() -> None:
        bulkhead = AsyncBulkhead(limit, queue)
        running: list[asyncio.Event] = []
        tasks: list[asyncio.Task[None]] = []
        peak = 0

        async def worker() -> None:
            nonlocal peak
            async with bulkhead:
                done = asyncio.Event()
                running.append(done)
                peak = max(peak, len(running))
                try:
                    await done.wait()
                finally:
                    running.remove(done)

        for step in steps:
            if step == "arrive":
                tasks.append(asyncio.create_task(worker()))
            elif step == "finish" and running:
                running[0].set()
            elif step == "cancel" and tasks:
                tasks.pop(0).cancel()
            for _ in range(3):
                await asyncio.sleep(0)
            stats = bulkhead.core.statistics()
            assert stats.in_flight <= limit
            assert stats.queued <= queue
            assert len(running) <= limit
        for done in running:
            done.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        while running:  # bodies released by the gate above finish on the next turns
            await asyncio.sleep(0)
        assert peak <= limit
        assert bulkhead.core.statistics().in_flight == 0
        assert bulkhead.core.statistics().queued == 0

    asyncio.run(scenario())


def test_bulkhead_wait_is_bounded() -> None:
    async def scenario() -> None:
        bulkhead = AsyncBulkhead(1, 1, max_wait_s=0.001)
        await bulkhead.acquire()
        with pytest.raises(BulkheadFullError, match="waited"):
            await bulkhead.acquire()
        stats = bulkhead.core.statistics()
        assert (stats.in_flight, stats.queued, stats.cancelled_total) == (1, 0, 1)
        bulkhead.release()

    asyncio.run(scenario())


def test_bulkhead_with_no_time_to_wait_rejects_at_once() -> None:
    async def scenario() -> None:
        bulkhead = AsyncBulkhead(1, 5, max_wait_s=0)
        await bulkhead.acquire()
        with pytest.raises(BulkheadFullError):
            await bulkhead.acquire()
        bulkhead.release()
        assert bulkhead.core.statistics().rejected_total == 1

    asyncio.run(scenario())


# -- fallback ----------------------------------------------------------------------------

def test_fallback_answers_when_the_circuit_is_open() -> None:
    clock = ManualClock()
    breaker = tiny_breaker(clock)

    @fallback(Fallback.of_value("cached", on=(CircuitOpenError,)))
    @breaker
    def fetch() -> str:
        raise ConnectionError

    for _ in range(4):
        with pytest.raises(ConnectionError):
            fetch()
    assert fetch() == "cached"


def test_async_fallback_uses_the_error() -> None:
    @fallback(Fallback(lambda exc: f"degraded ({type(exc).__name__})"))
    async def fetch() -> str:
        raise TimeoutError

    assert asyncio.run(fetch()) == "degraded (TimeoutError)"
