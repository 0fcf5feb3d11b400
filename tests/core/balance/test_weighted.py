"""Smooth weighted round robin hands out exactly the weights, spread as nginx does."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from hld.core.balance import Backend, HealthTracker, Pool, SmoothWeightedRoundRobin


def sequence(balancer: SmoothWeightedRoundRobin, count: int) -> str:
    return "".join(balancer.pick().name for _ in range(count))


def test_nginx_sequence_for_weights_5_1_1() -> None:
    balancer = SmoothWeightedRoundRobin([Backend("a", 5), Backend("b"), Backend("c")])
    assert sequence(balancer, 14) == "aabacaa" * 2


def test_equal_weights_are_plain_round_robin() -> None:
    balancer = SmoothWeightedRoundRobin(["a", "b", "c"])
    assert sequence(balancer, 6) == "abcabc"


def test_scores_return_to_zero_after_each_cycle() -> None:
    balancer = SmoothWeightedRoundRobin([Backend("a", 5), Backend("b"), Backend("c")])
    sequence(balancer, 7)
    assert balancer.current_weights() == {"a": 0, "b": 0, "c": 0}


weights = st.lists(st.integers(min_value=1, max_value=20), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(weights)
def test_every_cycle_hands_out_exactly_the_weights(ws: list[int]) -> None:
    names = [chr(ord("a") + i) for i in range(len(ws))]
    balancer = SmoothWeightedRoundRobin([Backend(n, w) for n, w in zip(names, ws, strict=True)])
    cycle = sum(ws)
    for _ in range(3):
        counts = Counter(balancer.pick().name for _ in range(cycle))
        assert dict(zip(names, ws, strict=True)) == dict(counts)


def test_weight_change_takes_effect_on_the_next_cycle() -> None:
    pool = Pool([Backend("a", 1), Backend("b", 1)])
    balancer = SmoothWeightedRoundRobin(pool)
    sequence(balancer, 2)
    pool.set_weight("a", 3)
    assert Counter(sequence(balancer, 4)) == Counter({"a": 3, "b": 1})


def test_unhealthy_backend_is_skipped_and_the_rest_keep_their_ratio() -> None:
    health = HealthTracker(outlier=None)
    balancer = SmoothWeightedRoundRobin([Backend("a", 2), Backend("b", 1), Backend("c", 1)],
                                        health=health)
    balancer.report_health("b", False, 0.0)
    assert Counter(sequence(balancer, 30)) == Counter({"a": 20, "c": 10})
