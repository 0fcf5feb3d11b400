"""CL.THROTTLE replies, worked out by hand from redis-cell's algorithm.

redis-cell: emission interval ``T = period / count`` (whole ns), tolerance
``dvt = T * (max_burst + 1)``; ``new_tat = max(tat, now) + T * quantity``; limited when
``now < new_tat - dvt``; ``ttl = new_tat - now`` (allowed) or ``tat - now`` (limited);
remaining ``= trunc((dvt - ttl) / T)``; reply seconds are truncated, plus one when a
partial millisecond is left; retry is -1 when allowed or when the quantity can never fit.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hld.core.limit import GCRA, cl_throttle
from hld.core.limit.gcra import Throttle

S = 1_000_000_000
MS = 1_000_000


def run(steps: list[tuple[float, int]], max_burst: int, count: int,
        period_s: int) -> list[list[int]]:
    """Feed (seconds, quantity) steps through one key's stored TAT; collect the replies."""
    tat: int | None = None
    replies = []
    for at_s, quantity in steps:
        result = cl_throttle(tat, round(at_s * S), max_burst, count, period_s,
                             quantity=quantity)
        tat = result.tat_ns if result.ttl_ns > 0 else None
        replies.append(result.reply())
    return replies


def test_readme_example_first_call() -> None:
    """CL.THROTTLE user123 15 30 60 on a new key: [0, 16, 15, -1, 2]."""
    assert run([(100.0, 1)], 15, 30, 60) == [[0, 16, 15, -1, 2]]


def test_five_per_second_burst_then_limited_then_recovering() -> None:
    """max_burst 4, 1 per second (limit 5): the sequence redis-cell's own tests walk."""
    steps = [
        (0.0, 6),   # larger than the limit: limited, retry -1, nothing stored
        (0.0, 1), (0.0, 1), (0.0, 1), (0.0, 1), (0.0, 1),  # the burst of 5
        (0.0, 1),   # limited: retry 1 s, the TAT is 5 s away
        (3.0, 1),   # TAT 5 -> 6: ttl 3, 2 left
        (3.1, 1),   # TAT 6 -> 7: ttl 3.9 -> 4 s, 1.1 -> 1 left
        (4.0, 1),   # TAT 7 -> 8: ttl 4
        (8.0, 1),   # TAT 8 == now -> 9: ttl 1, 4 left
        (9.5, 1),   # TAT in the past: 9.5 -> 10.5
        (9.5, 0),   # quantity 0 only peeks
        (9.5, 2),   # TAT 10.5 -> 12.5: ttl 3, 2 left
        (9.5, 5),   # would need TAT 17.5, allowed at 12.5: retry 3
    ]
    assert run(steps, 4, 1, 1) == [
        [1, 5, 5, -1, 0],
        [0, 5, 4, -1, 1], [0, 5, 3, -1, 2], [0, 5, 2, -1, 3], [0, 5, 1, -1, 4],
        [0, 5, 0, -1, 5],
        [1, 5, 0, 1, 5],
        [0, 5, 2, -1, 3],
        [0, 5, 1, -1, 4],
        [0, 5, 1, -1, 4],
        [0, 5, 4, -1, 1],
        [0, 5, 4, -1, 1],
        [0, 5, 4, -1, 1],
        [0, 5, 2, -1, 3],
        [1, 5, 2, 3, 3],
    ]


def test_partial_seconds_round_up_to_the_next_second() -> None:
    """3 per 10 s, no burst: T = 3.333 s, replied as 4 s for both retry and reset."""
    assert run([(0.0, 1), (0.0, 1)], 0, 3, 10) == [[0, 1, 0, -1, 4], [1, 1, 0, 4, 4]]


def test_partial_milliseconds_are_dropped() -> None:
    """0.4 ms left of a TAT is under a millisecond: the reply says 0 s, not 1."""
    assert run([(0.0, 1), (1.9996, 0)], 1, 1, 2) == [[0, 2, 1, -1, 2], [0, 2, 1, -1, 0]]


def test_limited_call_leaves_the_stored_tat_unchanged() -> None:
    first = cl_throttle(None, 0, 0, 1, 1)
    second = cl_throttle(first.tat_ns, 10 * MS, 0, 1, 1)
    assert second.limited
    assert second.tat_ns == first.tat_ns
    assert second.ttl_ns == S - 10 * MS


def test_result_carries_nanosecond_durations() -> None:
    assert cl_throttle(None, 0, 1, 2, 1) == Throttle(
        limited=False, limit=2, remaining=1, retry_after_ns=-S, reset_after_ns=S // 2,
        tat_ns=S // 2, ttl_ns=S // 2)


@pytest.mark.parametrize(("args", "name"), [
    ((-1, 1, 1, 1), "max_burst"),
    ((1, 0, 1, 1), "count_per_period"),
    ((1, 1, 0, 1), "period"),
    ((1, 1, 1, -1), "quantity"),
    ((1, 10**9, 1, 1), "count_per_period"),  # faster than one per microsecond
])
def test_bad_arguments_name_the_argument(args: tuple[int, int, int, int], name: str) -> None:
    max_burst, count, period, quantity = args
    with pytest.raises(ValueError, match=name):
        cl_throttle(None, 0, max_burst, count, period, quantity=quantity)


@settings(max_examples=60, deadline=None)
@given(
    count=st.sampled_from([1, 2, 4, 5, 10, 20]),
    period_s=st.sampled_from([1, 2, 5, 10, 60]),
    max_burst=st.integers(min_value=0, max_value=6),
    steps=st.lists(st.tuples(st.integers(min_value=0, max_value=4000),
                             st.integers(min_value=0, max_value=4)), max_size=40),
)
def test_float_gcra_agrees_with_cl_throttle(count: int, period_s: int, max_burst: int,
                                            steps: list[tuple[int, int]]) -> None:
    """GCRA(rate = count / period, burst = max_burst + 1) makes the same calls."""
    limiter = GCRA(count / period_s, max_burst + 1)
    tat: int | None = None
    now_ms = 0
    for step_ms, quantity in steps:
        now_ms += step_ms
        exact = cl_throttle(tat, now_ms * MS, max_burst, count, period_s, quantity=quantity)
        tat = exact.tat_ns if exact.ttl_ns > 0 else None
        verdict = limiter.allow(now_ms / 1000, quantity)
        assert (verdict.allowed, verdict.remaining) == (not exact.limited, exact.remaining)
        assert verdict.reset_after_s == pytest.approx(exact.reset_after_ns / S, abs=1e-6)
