"""Bulkhead core: bounded concurrency, bounded FIFO queue, hand-over on release."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hld.core.resilience import Bulkhead, ResilienceConfigError


def test_admits_up_to_the_limit_then_queues_then_rejects() -> None:
    b = Bulkhead(2, max_queued=1)
    assert [b.try_acquire(), b.try_acquire(), b.try_acquire()] == [True, True, False]
    ticket = b.enqueue()
    assert ticket is not None
    assert b.enqueue() is None
    stats = b.statistics()
    assert (stats.in_flight, stats.queued, stats.rejected_total) == (2, 1, 1)


def test_release_hands_the_slot_to_the_oldest_waiter() -> None:
    b = Bulkhead(1, max_queued=3)
    assert b.try_acquire()
    first, second = b.enqueue(), b.enqueue()
    assert b.release() == first
    assert b.in_flight == 1
    assert b.release() == second
    assert b.release() is None
    assert b.in_flight == 0


def test_no_queue_jumping_while_someone_waits() -> None:
    b = Bulkhead(1, max_queued=1)
    assert b.try_acquire()
    b.enqueue()
    b.release()  # handed to the waiter
    assert not b.try_acquire()


def test_cancel_tells_whether_the_slot_was_already_granted() -> None:
    b = Bulkhead(1, max_queued=2)
    assert b.try_acquire()
    waiting, granted = b.enqueue(), b.enqueue()
    assert waiting is not None
    assert granted is not None
    assert b.cancel(waiting) is True
    assert b.release() == granted
    assert b.cancel(granted) is False  # it holds the slot and must release it


def test_release_without_acquire_is_an_error() -> None:
    with pytest.raises(ResilienceConfigError, match="released more often"):
        Bulkhead(1).release()


@pytest.mark.parametrize(("concurrent", "queued"), [(0, 0), (-1, 0), (1, -1)])
def test_bad_bounds_are_refused(concurrent: int, queued: int) -> None:
    with pytest.raises(ResilienceConfigError):
        Bulkhead(concurrent, queued)


class BulkheadMachine(RuleBasedStateMachine):
    """Against a model: a slot count and a FIFO list."""

    def __init__(self) -> None:
        super().__init__()
        self.b = Bulkhead(2, max_queued=3)
        self.holding = 0
        self.queue: list[int] = []

    @rule()
    def acquire_or_queue(self) -> None:
        if self.b.try_acquire():
            assert self.holding < 2
            assert not self.queue
            self.holding += 1
            return
        ticket = self.b.enqueue()
        if ticket is None:
            assert len(self.queue) == 3
        else:
            self.queue.append(ticket)

    @rule()
    def release(self) -> None:
        if self.holding == 0:
            return
        handed = self.b.release()
        if self.queue:
            assert handed == self.queue.pop(0)
        else:
            assert handed is None
            self.holding -= 1

    @rule(index=st.integers(0, 5))
    def cancel(self, index: int) -> None:
        if index < len(self.queue):
            assert self.b.cancel(self.queue.pop(index))

    @invariant()
    def bounds_hold(self) -> None:
        stats = self.b.statistics()
        assert stats.in_flight == self.holding <= 2
        assert stats.queued == len(self.queue) <= 3


BulkheadMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30,
                                             deadline=None)
TestBulkheadAgainstModel = BulkheadMachine.TestCase
