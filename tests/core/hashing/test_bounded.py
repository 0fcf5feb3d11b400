"""Bounded-load consistent hashing: no node exceeds ceil(c * mean), and the ring still rules."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from hld.core.hashing import BoundedLoadRing, EmptyNodeSetError, HashRing, UnassignedKeyError
from tests.core.hashing.contract import sample_keys

NODES = [f"n{i}" for i in range(8)]
KEYS = sample_keys(4000, seed=23)


def assert_within_capacity(ring: BoundedLoadRing, factor: float) -> None:
    total = ring.assigned()
    for node in ring.nodes:
        share = ring.weight(node) / sum(ring.weight(n) for n in ring.nodes)
        assert ring.load(node) <= math.ceil(factor * total * share)


@pytest.mark.parametrize("factor", [1.05, 1.25, 2.0])
def test_no_node_exceeds_its_capacity(factor: float) -> None:
    ring = BoundedLoadRing(NODES, balance_factor=factor)
    for key in KEYS:
        ring.assign(key)
    assert ring.assigned() == len(KEYS)
    assert_within_capacity(ring, factor)


def test_a_hot_arc_overflows_to_the_next_nodes() -> None:
    plain = HashRing(NODES)
    hot = [k for k in sample_keys(20000, seed=29) if plain.lookup(k) == "n0"][:800]
    ring = BoundedLoadRing(NODES, balance_factor=1.25)
    placed = Counter(ring.assign(k) for k in hot)
    assert placed["n0"] <= math.ceil(1.25 * len(hot) / len(NODES))
    assert len(placed) > 1


def test_with_a_generous_factor_it_places_like_the_plain_ring() -> None:
    ring = BoundedLoadRing(NODES, balance_factor=100.0)
    assert ring.place_all(KEYS) == HashRing(NODES).place_all(KEYS)


def test_lookup_reports_the_assignment_and_changes_nothing() -> None:
    ring = BoundedLoadRing(NODES)
    node = ring.assign("k")
    assert ring.lookup("k") == node
    assert ring.assign("k") == node  # idempotent
    assert ring.assigned() == 1
    ring.lookup("other")
    assert ring.assigned() == 1


def test_release_frees_capacity() -> None:
    ring = BoundedLoadRing(NODES)
    node = ring.assign("k")
    assert ring.release("k") == node
    assert ring.load(node) == 0
    with pytest.raises(UnassignedKeyError, match="not assigned"):
        ring.release("k")


def test_a_leaving_node_hands_its_keys_to_the_others_within_capacity() -> None:
    ring = BoundedLoadRing(NODES, balance_factor=1.25)
    for key in KEYS:
        ring.assign(key)
    ring.remove("n3")
    assert ring.assigned() == len(KEYS)
    assert "n3" not in ring.loads()
    assert sum(ring.loads().values()) == len(KEYS)
    assert_within_capacity(ring, 1.25)


def test_the_last_node_leaving_unassigns_everything() -> None:
    ring = BoundedLoadRing(["only"])
    ring.assign("k")
    ring.remove("only")
    assert ring.assigned() == 0
    with pytest.raises(EmptyNodeSetError):
        ring.assign("k")


def test_weights_scale_capacity() -> None:
    ring = BoundedLoadRing({"small": 1, "big": 3}, balance_factor=1.1)
    for key in KEYS:
        ring.assign(key)
    assert ring.load("big") / ring.load("small") == pytest.approx(3, rel=0.25)
    assert_within_capacity(ring, 1.1)


@pytest.mark.parametrize("factor", [1.0, 0.5, -2, math.inf, math.nan])
def test_balance_factor_must_exceed_one(factor: float) -> None:
    with pytest.raises(ValueError, match="balance_factor"):
        BoundedLoadRing(NODES, balance_factor=factor)
