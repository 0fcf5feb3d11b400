"""The leaky bucket as a queue: requests that fit wait their turn at the drain rate."""

from __future__ import annotations

import pytest

from hld.core.limit import Decision, LeakyQueue


def test_a_burst_is_spread_at_the_drain_rate() -> None:
    queue = LeakyQueue(rate_per_s=4.0, capacity=3)
    slots = [queue.enqueue(10.0) for _ in range(4)]
    assert [(s.allowed, s.delay_s, s.position) for s in slots] == [
        (True, 0.0, 0), (True, 0.25, 1), (True, 0.5, 2), (False, 0.0, -1)]


def test_the_queue_drains_as_time_passes() -> None:
    queue = LeakyQueue(rate_per_s=4.0, capacity=3)
    for _ in range(3):
        queue.enqueue(10.0)
    assert queue.backlog(10.5) == pytest.approx(1.0)
    slot = queue.enqueue(10.5)
    assert (slot.allowed, slot.delay_s, slot.position) == (True, 0.25, 1)


def test_refused_request_is_told_when_a_slot_frees() -> None:
    queue = LeakyQueue(rate_per_s=2.0, capacity=2)
    queue.enqueue(0.0)
    queue.enqueue(0.0)
    refused = queue.enqueue(0.0)
    assert refused.decision == Decision(False, 2, 0, 0.5, 1.0)
    assert queue.enqueue(0.5).allowed


def test_cost_counts_units_ahead() -> None:
    queue = LeakyQueue(rate_per_s=10.0, capacity=10)
    queue.enqueue(0.0, 4)
    slot = queue.enqueue(0.0, 3)
    assert (slot.allowed, slot.position) == (True, 4)
    assert slot.delay_s == pytest.approx(0.4)
    assert slot.decision.remaining == 3


def test_decision_is_immutable() -> None:
    verdict = LeakyQueue(1.0, 1).allow(0.0)
    with pytest.raises(AttributeError):
        verdict.allowed = False  # type: ignore[misc]
