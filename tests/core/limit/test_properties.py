"""Properties over arbitrary traffic: no limiter admits more than ``rate * span + burst``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hld.core.limit import ALGORITHMS, make

# Float drift in the algorithms is far below a nanosecond per decision; the bound gets that
# much slack per second of span plus a billionth of a unit.
SLACK_UNITS = 1e-6

def _timeline(steps: list[tuple[float, int]]) -> list[tuple[float, int]]:
    now = 0.0
    timed = []
    for gap, cost in steps:
        now += gap
        timed.append((now, cost))
    return timed


# Gaps between requests: bunches (0), near-misses around window edges, and arbitrary waits.
gaps = st.one_of(
    st.just(0.0),
    st.sampled_from([1e-6, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0]),
    st.floats(min_value=0.0, max_value=3.0, allow_nan=False),
)
arrivals = st.lists(
    st.tuples(gaps, st.integers(min_value=1, max_value=4)), min_size=1, max_size=80,
).map(_timeline)



@pytest.mark.parametrize("algorithm", ALGORITHMS)
@settings(max_examples=50, deadline=None)
@given(
    rate_per_s=st.one_of(st.sampled_from([0.5, 1.0, 2.0, 4.0, 10.0]),
                         st.floats(min_value=0.25, max_value=50.0, allow_nan=False)),
    burst=st.integers(min_value=1, max_value=8),
    requests=arrivals,
)
def test_no_limiter_admits_more_than_rate_times_span_plus_burst_over_any_span(
        algorithm: str, rate_per_s: float, burst: int,
        requests: list[tuple[float, int]]) -> None:
    limiter = make(algorithm, rate_per_s, burst)
    admitted: list[tuple[float, int]] = []
    for now, cost in requests:
        if limiter.allow(now, cost).allowed:
            admitted.append((now, cost))
    worst_excess = 0.0
    for i, (start, _) in enumerate(admitted):
        units = 0
        for end, cost in admitted[i:]:
            units += cost
            bound = limiter.rate_per_s * (end - start) + limiter.burst_max
            worst_excess = max(worst_excess, units - bound)
    assert worst_excess <= SLACK_UNITS


@settings(max_examples=40, deadline=None)
@given(
    algorithm=st.sampled_from(ALGORITHMS),
    burst=st.integers(min_value=1, max_value=8),
    requests=arrivals,
)
def test_decisions_are_internally_consistent(algorithm: str, burst: int,
                                             requests: list[tuple[float, int]]) -> None:
    """Allowed means retry 0; denied means retry > 0; remaining within [0, limit]."""
    limiter = make(algorithm, 3.0, burst)
    for now, cost in requests:
        verdict = limiter.allow(now, cost)
        assert 0 <= verdict.remaining <= verdict.limit == burst
        assert verdict.reset_after_s >= 0.0
        if verdict.allowed:
            assert verdict.retry_after_s == 0.0
        else:
            assert verdict.retry_after_s > 0.0


def test_fixed_window_really_needs_its_double_burst() -> None:
    """The bound is tight for a fixed window: 2x the limit around one edge."""
    limiter = make("fixed_window", 10.0, 5)  # 5 per 0.5 s window
    late = sum(limiter.allow(0.499).allowed for _ in range(5))
    early = sum(limiter.allow(0.5).allowed for _ in range(5))
    assert late + early == 10
