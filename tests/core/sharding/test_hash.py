"""Hash router: modulo and ring modes, shard changes, key plans."""

from __future__ import annotations

import pytest

from hld.core.hashing import HashRing
from hld.core.sharding import DuplicateShardError, HashRangeMove, HashRouter, UnknownShardError
from tests.core.hashing.contract import sample_keys

KEYS = sample_keys(5000, seed=31)
SHARDS = [f"shard-{i}" for i in range(8)]


@pytest.mark.parametrize("mode", ["modulo", "ring"])
def test_every_key_goes_to_a_shard_and_all_shards_get_keys(mode: str) -> None:
    router = HashRouter(SHARDS, mode=mode)  # type: ignore[arg-type]
    assert {router.lookup(k) for k in KEYS} == set(SHARDS)


def test_ring_mode_adding_a_shard_moves_about_one_in_n_plus_one() -> None:
    before = HashRouter(SHARDS, mode="ring")
    after = before.copy()
    after.add_shard("shard-8")
    plan = before.plan_to(after, KEYS)
    assert plan.targets() == {"shard-8"}
    assert 0.5 / 9 < len(plan) / len(KEYS) < 1.6 / 9


def test_modulo_mode_adding_a_shard_moves_most_keys() -> None:
    before = HashRouter(SHARDS, mode="modulo")
    after = before.copy()
    after.add_shard("shard-8")
    assert len(before.plan_to(after, KEYS)) / len(KEYS) > 0.8


def test_ring_mode_removing_a_shard_moves_only_its_keys() -> None:
    before = HashRouter(SHARDS)
    after = before.copy()
    after.remove_shard("shard-2")
    plan = before.plan_to(after, KEYS)
    assert plan.sources() == {"shard-2"}
    assert len(plan) == sum(before.lookup(k) == "shard-2" for k in KEYS)


def test_weights_need_ring_mode() -> None:
    router = HashRouter({"big": 3.0, "small": 1.0})
    share = sum(router.lookup(k) == "big" for k in KEYS) / len(KEYS)
    assert share == pytest.approx(0.75, abs=0.1)
    with pytest.raises(ValueError, match="mode='ring'"):
        HashRouter({"big": 3.0, "small": 1.0}, mode="modulo")


def test_bad_configurations_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        HashRouter(SHARDS, mode="cubic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        HashRouter([])
    router = HashRouter(["only"])
    with pytest.raises(ValueError, match="last shard"):
        router.remove_shard("only")
    with pytest.raises(UnknownShardError):
        router.remove_shard("ghost")
    with pytest.raises(DuplicateShardError):
        router.add_shard("only")
    with pytest.raises(DuplicateShardError):
        HashRouter(["a", "a"])


def test_ring_plan_without_keys_lists_the_arcs_that_change_owner() -> None:
    before = HashRouter(SHARDS, vnodes=20)
    after = before.copy()
    after.add_shard("shard-8")
    plan = before.plan_to(after)
    assert plan.targets() == {"shard-8"}
    assert all(isinstance(m, HashRangeMove) and m.low < m.high for m in plan)
    # The arcs predict which keys move: a key moves iff its hash lies in a listed arc.
    ring = HashRing(SHARDS, vnodes=20)
    for key in KEYS[:1000]:
        point = ring.key_point(key)
        inside = [m for m in plan if isinstance(m, HashRangeMove) and m.low <= point < m.high]
        moved = before.lookup(key) != after.lookup(key)
        assert len(inside) == (1 if moved else 0)
    assert plan.hash_fraction() == pytest.approx(
        sum(before.lookup(k) != after.lookup(k) for k in KEYS) / len(KEYS), abs=0.02)


def test_ring_plan_of_a_removal_moves_only_that_shards_arcs() -> None:
    before = HashRouter(SHARDS)
    after = before.copy()
    after.remove_shard("shard-5")
    plan = before.plan_to(after)
    assert plan.sources() == {"shard-5"}
    assert not before.plan_to(before.copy())


def test_modulo_plans_need_keys() -> None:
    router = HashRouter(SHARDS, mode="modulo")
    with pytest.raises(ValueError, match="pass keys"):
        router.plan_to(router.copy())
