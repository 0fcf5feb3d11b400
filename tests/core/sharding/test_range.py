"""Range router: lookups by split point, split, merge, and range rebalance plans."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hld.core.sharding import (
    DuplicateShardError,
    RangeMove,
    RangeRouter,
    SplitPointError,
    UnknownShardError,
)


def abc() -> RangeRouter:
    return RangeRouter(["s0", "s1", "s2"], ["g", "p"])


def test_a_key_goes_to_the_range_that_contains_it() -> None:
    router = abc()
    assert [router.lookup(k) for k in ["", "a", "fzz", "g", "h", "ozz", "p", "zzz"]] == \
        ["s0", "s0", "s0", "s1", "s1", "s1", "s2", "s2"]


def test_str_and_bytes_keys_order_the_same_way() -> None:
    router = RangeRouter(["low", "high"], ["é"])
    assert router.lookup("e") == router.lookup(b"e") == "low"
    assert router.lookup("ê") == router.lookup("ê".encode()) == "high"


def test_ranges_cover_the_key_space_in_order() -> None:
    assert abc().ranges() == [(None, b"g", "s0"), (b"g", b"p", "s1"), (b"p", None, "s2")]
    assert abc().range_of("s1") == (b"g", b"p")


def test_split_gives_the_upper_part_to_the_new_shard() -> None:
    router = abc()
    router.split("s1", "k", "s1b")
    assert router.shards == ("s0", "s1", "s1b", "s2")
    assert router.range_of("s1") == (b"g", b"k")
    assert router.range_of("s1b") == (b"k", b"p")
    assert (router.lookup("j"), router.lookup("k")) == ("s1", "s1b")


def test_split_of_an_open_ended_range() -> None:
    router = RangeRouter(["all"])
    router.split("all", "m", "upper")
    assert router.ranges() == [(None, b"m", "all"), (b"m", None, "upper")]


@pytest.mark.parametrize("at", ["a", "g", "p", "z"])
def test_a_split_point_outside_the_range_is_rejected(at: str) -> None:
    router = abc()
    with pytest.raises(SplitPointError, match="outside the range"):
        router.split("s1", at, "new")
    assert router.shards == ("s0", "s1", "s2")


def test_split_into_an_existing_or_unknown_shard_is_rejected() -> None:
    router = abc()
    with pytest.raises(DuplicateShardError):
        router.split("s1", "k", "s2")
    with pytest.raises(UnknownShardError):
        router.split("nope", "k", "new")


def test_merge_folds_a_neighbour_into_the_shard() -> None:
    router = abc()
    router.merge("s1", "s2")
    assert router.ranges() == [(None, b"g", "s0"), (b"g", None, "s1")]
    router = abc()
    router.merge("s1", "s0")
    assert router.ranges() == [(None, b"p", "s1"), (b"p", None, "s2")]


def test_merge_undoes_split() -> None:
    router = abc()
    router.split("s1", "k", "tmp")
    router.merge("s1", "tmp")
    assert router.ranges() == abc().ranges()


def test_only_neighbours_merge() -> None:
    router = abc()
    with pytest.raises(SplitPointError, match="not adjacent"):
        router.merge("s0", "s2")


@pytest.mark.parametrize(("shards", "points"), [
    (["a", "b"], []), (["a"], ["x"]), (["a", "b", "c"], ["m", "m"]), (["a", "b", "c"], ["n", "m"]),
])
def test_bad_split_points_are_rejected(shards: list[str], points: list[str]) -> None:
    with pytest.raises(SplitPointError):
        RangeRouter(shards, points)


def test_duplicate_or_no_shards_are_rejected() -> None:
    with pytest.raises(DuplicateShardError):
        RangeRouter(["a", "a"], ["m"])
    with pytest.raises(ValueError, match="at least one"):
        RangeRouter([])


def test_plan_of_a_split_moves_exactly_the_upper_part() -> None:
    before = abc()
    after = before.copy()
    after.split("s1", "k", "s1b")
    plan = before.plan_to(after)
    assert list(plan) == [RangeMove(b"k", b"p", "s1", "s1b")]
    assert plan.routes() == {("s1", "s1b"): 1}
    assert before.shards == ("s0", "s1", "s2")  # the copy changed, not the original


def test_plan_of_a_merge_moves_the_neighbours_whole_range() -> None:
    before = abc()
    after = before.copy()
    after.merge("s1", "s2")
    assert list(before.plan_to(after)) == [RangeMove(b"p", None, "s2", "s1")]


def test_plan_joins_adjacent_pieces_and_is_empty_without_change() -> None:
    before = RangeRouter(["a", "b", "c"], ["f", "m"])
    after = RangeRouter(["a", "c"], ["d"])
    assert list(before.plan_to(after)) == [
        RangeMove(b"d", b"f", "a", "c"), RangeMove(b"f", b"m", "b", "c")]
    assert not abc().plan_to(abc())


def test_every_key_moves_as_its_plan_says() -> None:
    before = abc()
    after = before.copy()
    after.split("s0", "c", "s0b")
    after.merge("s1", "s2")
    plan = before.plan_to(after)
    for key in [b"", b"b", b"c", b"d", b"g", b"o", b"p", b"q", b"zz"]:
        moves = [m for m in plan if isinstance(m, RangeMove) and key in m]
        if before.lookup(key) == after.lookup(key):
            assert moves == []
        else:
            expected = [(before.lookup(key), after.lookup(key))]
            assert [(m.source, m.target) for m in moves] == expected


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.tuples(st.booleans(), st.integers(0, 30), st.text("abcdefgh", max_size=3)),
                    max_size=8),
       keys=st.lists(st.text("abcdefgh", max_size=4), min_size=1, max_size=30))
def test_any_split_and_merge_sequence_is_described_by_its_plan(
        ops: list[tuple[bool, int, str]], keys: list[str]) -> None:
    """Whatever splits and merges happen, a key moves iff one RangeMove covers it, and
    that move names its old and new shard."""
    before = RangeRouter(["s0", "s1"], ["d"])
    after = before.copy()
    fresh = 0
    for is_split, pick, at in ops:
        shards = after.shards
        shard = shards[pick % len(shards)]
        if is_split:
            low, high = after.range_of(shard)
            point = at.encode()
            if (low is None or low < point) and (high is None or point < high):
                fresh += 1
                after.split(shard, at, f"new{fresh}")
        elif len(shards) > 1:
            index = shards.index(shard)
            after.merge(shard, shards[index + 1] if index + 1 < len(shards) else shards[index - 1])
    plan = before.plan_to(after)
    for key in keys:
        data = key.encode()
        covering = [m for m in plan if isinstance(m, RangeMove) and data in m]
        old, new = before.lookup(key), after.lookup(key)
        assert [(m.source, m.target) for m in covering] == ([] if old == new else [(old, new)])
