"""The synchronous helper runs pick, on_start and on_finish around a block."""

from __future__ import annotations

import pytest

from hld.core.balance import (
    HealthTracker,
    OutlierDetection,
    RoundRobin,
    attempt,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.25
        return self.now


def test_success_is_reported_with_its_latency() -> None:
    balancer = RoundRobin(["a", "b"])
    clock = Clock()
    with attempt(balancer, clock=clock) as handle:
        assert balancer.in_flight(handle.backend) == 1
    assert (handle.backend.name, handle.ok, balancer.in_flight("a")) == ("a", True, 0)


def test_an_exception_counts_as_a_failure_and_propagates() -> None:
    health = HealthTracker(OutlierDetection(consecutive_failures=1, max_ejection_percent=50))
    balancer = RoundRobin(["a", "b"], health=health)
    with pytest.raises(ConnectionError), attempt(balancer, clock=Clock()):
        raise ConnectionError("refused")
    assert health.is_ejected("a")
    assert balancer.in_flight("a") == 0


def test_fail_marks_a_failure_without_raising() -> None:
    health = HealthTracker(OutlierDetection(consecutive_failures=1, max_ejection_percent=50))
    balancer = RoundRobin(["a", "b"], health=health)
    with attempt(balancer, clock=Clock()) as handle:
        handle.fail()  # e.g. the backend answered 503
    assert health.is_ejected("a")
