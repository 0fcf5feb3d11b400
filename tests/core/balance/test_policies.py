"""Policy-specific behaviour: what each load-aware or hashing policy prefers."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hld.core.balance import (
    Backend,
    Balancer,
    IpHash,
    KeyHash,
    LeastConnections,
    LeastResponseTime,
    Pool,
    PowerOfTwoChoices,
    RandomBalancer,
    Request,
    ResourceBased,
    WeightedLeastConnections,
)
from hld.core.balance.latency import RttTracker


def start(balancer: Balancer, name: str, times: int = 1) -> None:
    for _ in range(times):
        balancer.on_start(Backend(name))


# -- least connections --------------------------------------------------------------------

def test_least_connections_picks_the_fewest_in_flight() -> None:
    balancer = LeastConnections(["a", "b", "c"])
    start(balancer, "a", 3)
    start(balancer, "b", 1)
    start(balancer, "c", 2)
    assert balancer.pick().name == "b"


def test_least_connections_rotates_among_ties() -> None:
    balancer = LeastConnections(["a", "b", "c"])
    assert [balancer.pick().name for _ in range(6)] == list("abcabc")


def test_weighted_least_connections_divides_by_weight() -> None:
    balancer = WeightedLeastConnections([Backend("a", 4), Backend("b", 1)])
    start(balancer, "a", 6)  # (6 + 1) / 4 = 1.75
    start(balancer, "b", 1)  # (1 + 1) / 1 = 2
    assert balancer.pick().name == "a"
    start(balancer, "a", 2)  # (8 + 1) / 4 = 2.25
    assert balancer.pick().name == "b"


# -- latency --------------------------------------------------------------------------------

def test_unmeasured_backend_assumes_the_default_rtt() -> None:
    rtt = RttTracker(peak=True, default_rtt_s=1.0, decay_s=10.0)
    assert rtt.estimate("x", 0.0) == 1.0


def test_first_sample_replaces_the_default() -> None:
    rtt = RttTracker(peak=False, default_rtt_s=1.0, decay_s=10.0)
    rtt.observe("x", 0.02, 5.0)
    assert rtt.estimate("x", 5.0) == 0.02


def test_ewma_moves_toward_samples_by_elapsed_time() -> None:
    rtt = RttTracker(peak=False, decay_s=10.0)
    rtt.observe("x", 0.1, 0.0)
    rtt.observe("x", 0.2, 10.0)  # one decay window later: weight 1 - 1/e on the sample
    expected = 0.1 * math.exp(-1) + 0.2 * (1 - math.exp(-1))
    assert rtt.estimate("x", 10.0) == pytest.approx(expected)


def test_peak_ewma_jumps_up_at_once_and_decays_slowly() -> None:
    peak = RttTracker(peak=True, decay_s=10.0)
    plain = RttTracker(peak=False, decay_s=10.0)
    for tracker in (peak, plain):
        tracker.observe("x", 0.01, 0.0)
        tracker.observe("x", 0.5, 0.1)
    assert peak.estimate("x", 0.1) == 0.5
    assert plain.estimate("x", 0.1) < 0.02


def test_an_idle_estimate_relaxes_toward_zero() -> None:
    rtt = RttTracker(peak=True, decay_s=10.0)
    rtt.observe("x", 1.0, 0.0)
    assert rtt.estimate("x", 10.0) == pytest.approx(math.exp(-1))


@pytest.mark.parametrize(("default_rtt_s", "decay_s"), [(0.0, 1.0), (1.0, -1.0),
                                                        (math.nan, 1.0), (1.0, math.inf)])
def test_bad_rtt_settings_are_rejected(default_rtt_s: float, decay_s: float) -> None:
    with pytest.raises(ValueError, match="must be a finite number > 0"):
        LeastResponseTime(["a"], default_rtt_s=default_rtt_s, decay_s=decay_s)


def test_least_response_time_prefers_the_fast_backend() -> None:
    balancer = LeastResponseTime(["fast", "slow"], peak=True)
    for name, latency in (("fast", 0.01), ("slow", 0.2)):
        balancer.on_start(Backend(name))
        balancer.on_finish(Backend(name), latency, ok=True, now=1.0)
    assert Counter(balancer.pick(now=1.0).name for _ in range(10)) == {"fast": 10}


def test_least_response_time_weighs_queued_requests() -> None:
    balancer = LeastResponseTime(["fast", "slow"], peak=True)
    for name, latency in (("fast", 0.01), ("slow", 0.05)):
        balancer.on_start(Backend(name))
        balancer.on_finish(Backend(name), latency, ok=True, now=1.0)
    start(balancer, "fast", 5)  # 0.01 * 6 = 0.06 > 0.05 * 1
    assert balancer.pick(now=1.0).name == "slow"


def test_policy_names_say_which_estimate() -> None:
    assert [LeastResponseTime(["a"], peak=p).name for p in (False, True)] == [
        "ewma", "peak_ewma"]


# -- power of two choices -----------------------------------------------------------------

def test_p2c_never_picks_the_most_loaded_of_three() -> None:
    balancer = PowerOfTwoChoices(["a", "b", "c"], rng=random.Random(3))
    start(balancer, "c", 10)
    assert "c" not in {balancer.pick().name for _ in range(200)}


def test_p2c_samples_two_distinct_backends() -> None:
    balancer = PowerOfTwoChoices(["a", "b"], rng=random.Random(5))
    start(balancer, "a", 1)
    assert {balancer.pick().name for _ in range(50)} == {"b"}


def test_p2c_rejects_an_unknown_load() -> None:
    with pytest.raises(ValueError, match="load must be one of"):
        PowerOfTwoChoices(["a"], rng=random.Random(1), load="cpu")  # type: ignore[arg-type]


# -- random -------------------------------------------------------------------------------

def test_random_follows_weights() -> None:
    balancer = RandomBalancer([Backend("a", 3), Backend("b", 1)], rng=random.Random(11))
    counts = Counter(balancer.pick().name for _ in range(4000))
    assert 0.72 < counts["a"] / 4000 < 0.78


# -- resource based -----------------------------------------------------------------------

def test_resource_based_shares_traffic_by_headroom() -> None:
    balancer = ResourceBased(["a", "b"])
    balancer.report_load("a", cpu=0.25, now=0.0)           # headroom 0.75
    balancer.report_load("b", cpu=0.5, memory=0.75, now=0.0)  # scarcest: 0.75 -> 0.25
    counts = Counter(balancer.pick(now=1.0).name for _ in range(400))
    assert counts == {"a": 300, "b": 100}


def test_stale_reports_are_ignored() -> None:
    balancer = ResourceBased(["a", "b"], stale_after_s=5.0)
    balancer.report_load("a", cpu=0.98, now=0.0)
    assert Counter(balancer.pick(now=1.0).name for _ in range(100))["a"] < 10
    assert Counter(balancer.pick(now=10.0).name for _ in range(100)) == {"a": 50, "b": 50}


@pytest.mark.parametrize(("cpu", "memory"), [(-0.1, 0.0), (1.5, 0.0), (math.nan, 0.0),
                                             (0.5, math.inf)])
def test_load_reports_must_be_fractions(cpu: float, memory: float) -> None:
    with pytest.raises(ValueError, match="fraction between 0 and 1"):
        ResourceBased(["a"]).report_load("a", cpu=cpu, memory=memory, now=0.0)


# -- hashing ------------------------------------------------------------------------------

def test_ip_hash_is_sticky_per_client() -> None:
    balancer = IpHash(["a", "b", "c", "d"])
    clients = [f"192.168.1.{i}" for i in range(50)]
    first = [balancer.pick(Request(client_address=c)).name for c in clients]
    again = [balancer.pick(Request(client_address=c)).name for c in clients]
    assert first == again
    assert len(set(first)) == 4


def test_ejecting_one_backend_moves_only_its_keys() -> None:
    pool = Pool(["a", "b", "c", "d"])
    balancer = KeyHash(pool)
    keys = [f"user-{i}" for i in range(400)]
    before = {k: balancer.pick(Request(key=k)).name for k in keys}
    balancer.report_health("b", False, 0.0)
    after = {k: balancer.pick(Request(key=k)).name for k in keys}
    moved = {k for k in keys if before[k] != after[k]}
    assert moved == {k for k in keys if before[k] == "b"}
    balancer.report_health("b", True, 1.0)
    assert before == {k: balancer.pick(Request(key=k), 1.0).name for k in keys}


def test_header_hash_reads_the_named_header() -> None:
    balancer = KeyHash(["a", "b", "c"], header="X-Tenant")
    picks = {balancer.pick(Request(headers={"x-tenant": "acme"})).name for _ in range(10)}
    assert len(picks) == 1


def test_a_request_without_a_key_falls_back_to_round_robin() -> None:
    balancer = KeyHash(["a", "b", "c"])
    assert [balancer.pick(Request()).name for _ in range(3)] == ["a", "b", "c"]


def test_any_scheme_with_lookup_can_stand_in() -> None:
    class First:
        def __init__(self, nodes: Mapping[str, float]) -> None:
            self.node = next(iter(nodes))

        def lookup(self, key: str | bytes) -> str:
            return self.node

    balancer = IpHash(["a", "b"], scheme_factory=First)
    assert balancer.pick(Request(client_address="1.2.3.4")).name == "a"


def test_empty_header_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="header"):
        KeyHash(["a"], header="")


# -- properties ---------------------------------------------------------------------------

loads = st.lists(st.integers(0, 20), min_size=2, max_size=8)


@settings(max_examples=60, deadline=None)
@given(loads)
def test_least_connections_always_picks_a_minimum(in_flight: list[int]) -> None:
    names = [f"n{i}" for i in range(len(in_flight))]
    balancer = LeastConnections(names)
    for name, count in zip(names, in_flight, strict=True):
        start(balancer, name, count)
    picked = balancer.pick()
    assert in_flight[names.index(picked.name)] == min(in_flight)


@settings(max_examples=60, deadline=None)
@given(loads.filter(lambda xs: len(xs) >= 3 and xs.count(max(xs)) == 1),
       st.integers(0, 1000))
def test_p2c_never_picks_the_unique_most_loaded(in_flight: list[int], seed: int) -> None:
    names = [f"n{i}" for i in range(len(in_flight))]
    balancer = PowerOfTwoChoices(names, rng=random.Random(seed))
    for name, count in zip(names, in_flight, strict=True):
        start(balancer, name, count)
    busiest = names[in_flight.index(max(in_flight))]
    assert busiest not in {balancer.pick().name for _ in range(30)}
