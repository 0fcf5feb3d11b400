"""Deadlines: absolute, propagating, and carried in a header as milliseconds left."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hld.core.resilience import (
    Deadline,
    DeadlineExceeded,
    DeadlineHeaderError,
    ResilienceConfigError,
)
from hld.core.resilience.deadline import earliest


def test_remaining_budget_shrinks_and_never_goes_negative() -> None:
    dl = Deadline.after(2.0, now=10.0)
    assert [dl.remaining_s(t) for t in (10.0, 11.5, 12.0, 13.0)] == [2.0, 0.5, 0.0, 0.0]
    assert (dl.expired(11.999), dl.expired(12.0)) == (False, True)


def test_check_raises_once_past() -> None:
    dl = Deadline(5.0)
    dl.check(4.9)
    with pytest.raises(DeadlineExceeded, match="not started"):
        dl.check(5.0)


@settings(max_examples=100)
@given(parent_s=st.floats(0, 100), now=st.floats(0, 100),
       timeouts=st.lists(st.one_of(st.none(), st.floats(0, 100)), max_size=5))
def test_a_child_never_outlives_its_parent(parent_s: float, now: float,
                                           timeouts: list[float | None]) -> None:
    root = Deadline(parent_s)
    current = root
    for timeout in timeouts:
        child = current.child(timeout, now)
        assert child.at_s <= current.at_s
        if timeout is not None:
            assert child.at_s <= now + timeout
        current = child
    assert current.at_s <= root.at_s


def test_child_takes_the_tighter_of_parent_and_own_timeout() -> None:
    parent = Deadline(10.0)
    assert parent.child(1.0, now=5.0) == Deadline(6.0)
    assert parent.child(30.0, now=5.0) is parent


def test_header_carries_whole_milliseconds_rounded_down() -> None:
    dl = Deadline(10.0)
    assert dl.to_header(now=8.7654) == "1234"
    assert dl.to_header(now=11.0) == "0"
    assert Deadline.from_header("1234", now=100.0) == Deadline(101.234)
    assert Deadline.from_header(b" 250 ", now=0.0) == Deadline(0.25)


@settings(max_examples=100)
@given(at=st.floats(0, 1e4), now=st.floats(0, 1e4), later=st.floats(0, 1e4))
def test_header_round_trip_never_extends_the_deadline(at: float, now: float,
                                                      later: float) -> None:
    sent = Deadline(at)
    received = Deadline.from_header(sent.to_header(now), now)
    assert received.at_s <= max(sent.at_s, now) + 1e-9
    assert received.remaining_s(now + later) <= sent.remaining_s(now + later) + 1e-9


@pytest.mark.parametrize("value", ["", "-5", "1.5", "12ms", "\uff11\uff12", "123456789", "0x10"])
def test_bad_headers_are_refused(value: str) -> None:
    with pytest.raises(DeadlineHeaderError):
        Deadline.from_header(value, now=0.0)


@pytest.mark.parametrize("timeout", [-0.001, math.nan, math.inf])
def test_bad_timeouts_are_refused(timeout: float) -> None:
    with pytest.raises(ResilienceConfigError, match="timeout_s"):
        Deadline.after(timeout, now=0.0)


def test_earliest_of_optional_deadlines() -> None:
    a, b = Deadline(1.0), Deadline(2.0)
    assert (earliest(None, None), earliest(a, None), earliest(None, b), earliest(b, a)) == (
        None, a, b, a)
