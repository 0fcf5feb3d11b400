"""The runtime shell over the balancers: lifecycle on a manual clock, threads, health."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hld.core.balance import (
    Backend,
    HealthTracker,
    LeastConnections,
    LeastResponseTime,
    NoBackendAvailable,
    OutlierDetection,
    Pool,
    Request,
    RoundRobin,
)
from hld.runtime.balance import Balanced


class ManualClock:
    def __init__(self, start_s: float = 50.0) -> None:
        self.now = start_s

    def __call__(self) -> float:
        return self.now


def ejecting(names: list[str], failures: int = 2) -> HealthTracker:
    return HealthTracker(OutlierDetection(consecutive_failures=failures,
                                          max_ejection_percent=50.0))


def test_a_call_is_started_and_finished_with_its_measured_latency() -> None:
    clock = ManualClock()
    balanced = Balanced(LeastResponseTime(["a"]), clock=clock)

    def slow(backend: Backend) -> str:
        assert balanced.balancer.in_flight(backend) == 1
        clock.now += 0.25
        return backend.name

    assert balanced.call(slow) == "a"
    assert balanced.balancer.in_flight("a") == 0
    rtt = balanced.balancer.rtt  # type: ignore[attr-defined]
    assert rtt.estimate("a", clock.now) == 0.25


def test_exceptions_are_failures_that_eject_and_propagate() -> None:
    clock = ManualClock()
    balanced = Balanced(RoundRobin(["a", "b"], health=ejecting(["a", "b"])), clock=clock)

    def a_refuses(backend: Backend) -> str:
        if backend.name == "a":
            raise ConnectionError("refused")
        return backend.name

    outcomes = []
    for _ in range(4):  # round robin: a, b, a, b
        try:
            outcomes.append(balanced.call(a_refuses, Request()))
        except ConnectionError:
            outcomes.append("refused")
    assert outcomes == ["refused", "b", "refused", "b"]
    assert balanced.balancer.health.is_ejected("a")
    assert {balanced.call(a_refuses) for _ in range(4)} == {"b"}


def test_fail_marks_a_failure_without_raising() -> None:
    balanced = Balanced(RoundRobin(["a", "b"], health=ejecting(["a", "b"], failures=1)),
                        clock=ManualClock())
    with balanced.attempt() as attempt:
        attempt.fail()
    assert balanced.balancer.health.is_ejected(attempt.backend.name)


def test_an_empty_pool_raises_before_anything_is_in_flight() -> None:
    balanced = Balanced(LeastConnections(Pool()), clock=ManualClock())
    with pytest.raises(NoBackendAvailable, match="no backends"):
        balanced.call(lambda b: b)
    assert balanced.balancer.statistics().in_flight == {}


def test_async_attempt_and_call() -> None:
    clock = ManualClock()
    balanced = Balanced(LeastResponseTime(["a"]), clock=clock)

    async def fetch(backend: Backend) -> str:
        clock.now += 0.1
        await asyncio.sleep(0)
        return backend.name

    async def main() -> str:
        async with balanced.attempt_async() as attempt:
            assert balanced.balancer.in_flight(attempt.backend) == 1
        return await balanced.call_async(fetch)

    assert asyncio.run(main()) == "a"
    assert balanced.balancer.in_flight("a") == 0


def test_a_cancelled_async_call_is_finished_as_a_failure() -> None:
    balanced = Balanced(RoundRobin(["a", "b"], health=ejecting(["a", "b"], failures=1)),
                        clock=ManualClock())

    async def hang(backend: Backend) -> None:
        await asyncio.Event().wait()

    async def main() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await balanced.call_async(hang)

    asyncio.run(main())
    assert balanced.balancer.health.is_ejected("a")
    assert balanced.balancer.in_flight("a") == 0


def test_threads_sharing_a_balancer_keep_the_counts_exact() -> None:
    balanced = Balanced(LeastConnections([f"n{i}" for i in range(4)]))
    errors: list[BaseException] = []
    picks: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            mine = [balanced.call(lambda b: b.name) for _ in range(300)]
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
            return
        with lock:
            picks.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(picks) == 1200
    assert balanced.balancer.statistics().in_flight == dict.fromkeys(
        [f"n{i}" for i in range(4)], 0)


def test_active_checks_take_a_backend_out_and_bring_it_back() -> None:
    balanced = Balanced(RoundRobin(["a", "b", "c"]), clock=ManualClock())
    down = {"b"}

    def probe(backend: Backend) -> bool:
        if backend.name in down:
            raise ConnectionRefusedError(backend.name)
        return True

    assert balanced.check_health(probe) == {"a": True, "b": False, "c": True}
    assert {balanced.call(lambda b: b.name) for _ in range(6)} == {"a", "c"}
    down.clear()
    balanced.check_health(probe)
    assert {balanced.call(lambda b: b.name) for _ in range(6)} == {"a", "b", "c"}


def test_async_checks_run_at_once_and_a_hung_probe_is_a_failed_check() -> None:
    balanced = Balanced(RoundRobin(["a", "b"]), clock=ManualClock())

    async def probe(backend: Backend) -> bool:
        if backend.name == "b":
            await asyncio.Event().wait()  # never answers
        return True

    verdicts = asyncio.run(balanced.check_health_async(probe, timeout_s=0.05))
    assert verdicts == {"a": True, "b": False}
    assert {b.name for b in balanced.balancer.candidates()} == {"a"}


@pytest.mark.parametrize("timeout_s", [0, -1.0, float("nan"), 1e9])
def test_bad_probe_timeout_is_refused(timeout_s: float) -> None:
    balanced = Balanced(RoundRobin(["a"]))

    async def probe(backend: Backend) -> bool:
        return True

    with pytest.raises(ValueError, match="timeout_s"):
        asyncio.run(balanced.check_health_async(probe, timeout_s=timeout_s))


def test_only_a_balancer_can_be_wrapped() -> None:
    with pytest.raises(TypeError, match="Balancer"):
        Balanced(["a", "b"])  # type: ignore[arg-type]
