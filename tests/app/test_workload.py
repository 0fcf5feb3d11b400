"""The workload model of ``hld load``: Zipf popularity, the mix, bursts, the follow graph,
requests and the latency histogram. Seeded and clock-free, so every figure is exact."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hld.app.workload import (
    DEFAULT_MIX,
    HISTOGRAM_RATIO,
    POSTS_KNOWN_MAX,
    Burst,
    Histogram,
    Schedule,
    Workload,
    WorkloadError,
    Zipf,
    follow_graph,
    parse_burst,
    parse_mix,
)

DRAWS = 20_000


# ---- Zipf ----------------------------------------------------------------------------------
def test_zipf_probabilities_sum_to_one_and_fall_with_rank() -> None:
    zipf = Zipf(100, 1.0)
    probabilities = [zipf.pmf(rank) for rank in range(100)]
    assert math.isclose(sum(probabilities), 1.0)
    assert probabilities == sorted(probabilities, reverse=True)
    assert math.isclose(probabilities[0] / probabilities[9], 10.0)  # 1/1 vs 1/10
    assert zipf.pmf(-1) == zipf.pmf(100) == 0.0


def test_zipf_samples_follow_the_distribution() -> None:
    zipf = Zipf(100, 1.0)
    rng = random.Random(7)
    counts = Counter(zipf.sample(rng) for _ in range(DRAWS))
    assert set(counts) <= set(range(100))
    for rank in (0, 1, 2, 9, 49):
        expected = zipf.pmf(rank) * DRAWS
        # five standard deviations of a binomial count: cannot fail by chance in practice
        assert abs(counts[rank] - expected) < 5 * math.sqrt(expected), rank
    top_share = sum(counts[r] for r in range(10)) / DRAWS  # the celebrities
    assert top_share == pytest.approx(sum(zipf.pmf(r) for r in range(10)), abs=0.02)
    assert top_share > 0.5


def test_zipf_with_exponent_zero_is_uniform() -> None:
    zipf = Zipf(4, 0.0)
    assert [zipf.pmf(r) for r in range(4)] == [0.25] * 4


def test_zipf_is_deterministic_for_a_seed() -> None:
    zipf = Zipf(1000, 1.2)
    first = [zipf.sample(random.Random(3)) for _ in range(3)]
    a, b = random.Random(42), random.Random(42)
    assert [zipf.sample(a) for _ in range(500)] == [zipf.sample(b) for _ in range(500)]
    assert first == [first[0]] * 3


@pytest.mark.parametrize(("n", "s"), [(0, 1.0), (10, -1.0), (10, math.inf), (10, math.nan)])
def test_zipf_refuses_bad_parameters(n: int, s: float) -> None:
    with pytest.raises(WorkloadError):
        Zipf(n, s)


# ---- the mix -------------------------------------------------------------------------------
def test_default_mix_splits_reads_over_the_four_read_operations() -> None:
    shares = parse_mix(DEFAULT_MIX).shares()
    expected = {"home": 0.40, "user_posts": 0.16, "profile": 0.16, "trending": 0.08,
                "post": 0.10, "like": 0.05, "follow": 0.05}
    assert set(expected) == set(shares)
    for op, share in expected.items():
        assert shares[op] == pytest.approx(share), op


def test_single_reads_can_be_weighted_and_zero_weights_drop_out() -> None:
    shares = parse_mix("home=3, profile=1, post=0").shares()
    assert shares == {"home": 0.75, "profile": 0.25}


def test_chosen_operations_follow_the_mix_proportions() -> None:
    mix = parse_mix(DEFAULT_MIX)
    chooser = mix.chooser()
    rng = random.Random(1)
    counts = Counter(chooser.choose(rng) for _ in range(DRAWS))
    for op, share in mix.shares().items():
        expected = share * DRAWS
        assert abs(counts[op] - expected) < 5 * math.sqrt(expected), op


@pytest.mark.parametrize(("text", "message"), [
    ("read=80,dance=20", "mix key 'dance' is unknown"),
    ("read", "is not KEY=WEIGHT"),
    ("=5", "is not KEY=WEIGHT"),
    ("read=lots", "is not a number"),
    ("read=-1", "must be a finite number >= 0"),
    ("read=inf", "must be a finite number >= 0"),
    ("read=1,read=2", "given twice"),
    ("read=0,post=0", "no operation with a positive weight"),
])
def test_bad_mixes_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(WorkloadError, match=message):
        parse_mix(text)


# ---- arrivals and bursts ---------------------------------------------------------------------
def test_burst_parses_rps_start_and_length() -> None:
    assert parse_burst("500:10:5") == Burst(500.0, 10.0, 5.0)
    assert parse_burst("500:10:5").end_s == 15.0


@pytest.mark.parametrize("text", ["500", "500:1", "a:1:1", "0:1:1", "5:-1:1", "5:1:0",
                                  "5:1:nan", "1:2:3:4"])
def test_bad_bursts_are_refused(text: str) -> None:
    with pytest.raises(WorkloadError):
        parse_burst(text)


def test_rate_is_the_base_plus_every_active_burst() -> None:
    schedule = Schedule(100.0, 30.0, (Burst(500.0, 10.0, 5.0), Burst(50.0, 12.0, 10.0)))
    assert schedule.rate_at(0.0) == 100.0
    assert schedule.rate_at(10.0) == 600.0
    assert schedule.rate_at(13.0) == 650.0
    assert schedule.rate_at(15.0) == 150.0       # a burst's end is exclusive
    assert schedule.rate_at(29.999) == 100.0
    assert schedule.rate_at(30.0) == 0.0         # after the run
    assert schedule.rate_at(-1.0) == 0.0
    assert schedule.in_burst(14.9)
    assert not schedule.in_burst(22.0)
    assert schedule.expected_arrivals() == pytest.approx(100 * 30 + 500 * 5 + 50 * 10)


def test_a_burst_past_the_end_is_cut_at_the_end() -> None:
    schedule = Schedule(10.0, 5.0, (Burst(100.0, 4.0, 10.0),))
    assert schedule.expected_arrivals() == pytest.approx(10 * 5 + 100 * 1)


def test_arrivals_are_ascending_inside_the_run_and_as_many_as_expected() -> None:
    schedule = Schedule(200.0, 20.0, (Burst(800.0, 5.0, 2.0),))
    arrivals = list(schedule.arrivals(random.Random(9)))
    assert arrivals == sorted(arrivals)
    assert arrivals[0] >= 0.0
    assert arrivals[-1] < 20.0
    expected = schedule.expected_arrivals()                      # 5,600
    assert abs(len(arrivals) - expected) < 5 * math.sqrt(expected)
    in_burst = sum(1 for t in arrivals if 5.0 <= t < 7.0)        # (200 + 800) x 2 s
    assert abs(in_burst - 2000) < 5 * math.sqrt(2000)
    before = sum(1 for t in arrivals if 3.0 <= t < 5.0)          # 200 x 2 s
    assert abs(before - 400) < 5 * math.sqrt(400)


def test_arrival_gaps_are_exponential() -> None:
    """Poisson arrivals: mean gap 1/rate and a coefficient of variation near 1."""
    arrivals = list(Schedule(1000.0, 10.0).arrivals(random.Random(4)))
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    mean = sum(gaps) / len(gaps)
    std = math.sqrt(sum((g - mean) ** 2 for g in gaps) / len(gaps))
    assert mean == pytest.approx(0.001, rel=0.05)
    assert std / mean == pytest.approx(1.0, abs=0.05)


def test_arrivals_are_deterministic_for_a_seed() -> None:
    schedule = Schedule(50.0, 3.0, (Burst(100.0, 1.0, 1.0),))
    assert list(schedule.arrivals(random.Random(5))) == \
        list(schedule.arrivals(random.Random(5)))
    assert list(schedule.arrivals(random.Random(5))) != \
        list(schedule.arrivals(random.Random(6)))


@pytest.mark.parametrize(("rps", "duration_s"), [(0.0, 1.0), (-1.0, 1.0), (math.nan, 1.0),
                                                  (1.0, 0.0), (1.0, -2.0), (1.0, math.inf)])
def test_schedule_refuses_non_positive_rate_or_duration(rps: float, duration_s: float) -> None:
    with pytest.raises(WorkloadError):
        Schedule(rps, duration_s)


# ---- the follow graph ------------------------------------------------------------------------
def test_every_user_follows_the_asked_number_of_others_once() -> None:
    edges = follow_graph(200, 10, random.Random(1))
    assert len(edges) == len(set(edges)) == 200 * 10
    assert all(a != b for a, b in edges)
    per_follower = Counter(a for a, _ in edges)
    assert set(per_follower.values()) == {10}


def test_a_few_celebrities_have_most_followers() -> None:
    edges = follow_graph(200, 10, random.Random(1))
    followers = Counter(b for _, b in edges)
    ranked = [user for user, _ in followers.most_common()]
    assert ranked[0] == 0                                   # the most popular rank
    assert followers[0] > 150                               # followed by most users
    top_share = sum(followers[u] for u in range(10)) / len(edges)
    assert top_share > 0.35                     # 5 % of the users, over a third of follows
    median = sorted(followers[u] for u in range(200))[100]
    assert median < 10


def test_small_graphs_follow_everyone_else() -> None:
    edges = follow_graph(4, 10, random.Random(2))
    assert sorted(edges) == [(a, b) for a in range(4) for b in range(4) if a != b]


def test_follow_graph_is_deterministic_and_refuses_bad_sizes() -> None:
    assert follow_graph(50, 5, random.Random(3)) == follow_graph(50, 5, random.Random(3))
    with pytest.raises(WorkloadError):
        follow_graph(0, 5, random.Random(3))
    with pytest.raises(WorkloadError):
        follow_graph(5, -1, random.Random(3))


# ---- requests --------------------------------------------------------------------------------
def test_requests_follow_the_mix_and_are_deterministic() -> None:
    def draw(seed: int) -> list[tuple[str, int, int, int, str]]:
        workload = Workload(50, parse_mix(DEFAULT_MIX), random.Random(seed))
        workload.note_post(1)
        rng = random.Random(seed)
        return [(r.op, r.actor, r.target, r.post_id, r.text)
                for r in (workload.next_request(rng) for _ in range(2000))]

    first = draw(1)
    assert first == draw(1)
    ops = Counter(op for op, *_ in first)
    assert ops["follow"] + ops["unfollow"] == pytest.approx(0.05 * 2000, abs=45)
    assert ops["home"] == pytest.approx(0.40 * 2000, abs=110)
    for op, actor, target, _, _ in first:
        assert 0 <= actor < 50
        if op in ("profile", "user_posts", "follow", "unfollow"):
            assert 0 <= target < 50
            assert target != actor


def test_follow_toggles_the_relation() -> None:
    workload = Workload(2, parse_mix("follow=1"), random.Random(1))
    rng = random.Random(1)
    ops = [workload.next_request(rng) for _ in range(6)]
    by_actor: dict[int, list[str]] = {}
    for req in ops:
        by_actor.setdefault(req.actor, []).append(req.op)
    for sequence in by_actor.values():
        assert sequence == ["follow", "unfollow", "follow", "unfollow", "follow",
                            "unfollow"][: len(sequence)]


def test_a_like_without_known_posts_becomes_a_post() -> None:
    workload = Workload(10, parse_mix("like=1"), random.Random(1))
    rng = random.Random(1)
    first = workload.next_request(rng)
    assert first.op == "post"
    assert "#topic" in first.text
    workload.note_post(42)
    second = workload.next_request(rng)
    assert (second.op, second.post_id) == ("like", 42)


def test_known_posts_are_bounded() -> None:
    workload = Workload(3, parse_mix("like=1"), random.Random(1))
    for post_id in range(POSTS_KNOWN_MAX + 10):
        workload.note_post(post_id)
    assert workload.posts_known == POSTS_KNOWN_MAX


def test_active_users_are_not_simply_the_celebrities() -> None:
    workload = Workload(1000, parse_mix("home=1"), random.Random(1))
    rng = random.Random(2)
    actors = Counter(workload.next_request(rng).actor for _ in range(5000))
    busiest = actors.most_common(1)[0][0]
    assert busiest == workload.activity_order[0]
    assert busiest != 0


# ---- the latency histogram -------------------------------------------------------------------
def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=1e-5, max_value=30.0), min_size=1, max_size=300),
       st.sampled_from([0.5, 0.9, 0.99, 1.0]))
def test_histogram_quantiles_are_within_one_bucket_of_exact(values: list[float],
                                                            q: float) -> None:
    histogram = Histogram()
    for value in values:
        histogram.record(value)
    exact = exact_quantile(values, q)
    assert exact / HISTOGRAM_RATIO <= histogram.quantile(q) <= exact * HISTOGRAM_RATIO


def test_histogram_keeps_count_and_max_and_merges() -> None:
    a, b, both = Histogram(), Histogram(), Histogram()
    rng = random.Random(3)
    for i in range(1000):
        value = rng.expovariate(100.0)
        (a if i % 2 else b).record(value)
        both.record(value)
    a.merge(b)
    assert a.count == both.count == 1000
    assert a.max_s == both.max_s
    assert a.counts == both.counts
    assert a.quantile(0.99) == both.quantile(0.99)
    assert len(both.counts) < 1000  # bounded by the value range, not the sample count


def test_empty_histogram_has_no_quantiles() -> None:
    assert math.isnan(Histogram().quantile(0.5))
