"""Weighted rendezvous: proportional shares, and weight changes move only what they must."""

from __future__ import annotations

from collections import Counter

import pytest

from hld.core.hashing import RendezvousHash, moves
from tests.core.hashing.contract import sample_keys

KEYS = sample_keys(12000, seed=19)


def test_a_node_wins_in_proportion_to_its_weight() -> None:
    weights = {"a": 1.0, "b": 3.0, "c": 6.0}
    counts = Counter(RendezvousHash(weights).place_all(KEYS))
    for node, weight in weights.items():
        assert counts[node] / len(KEYS) == pytest.approx(weight / 10, abs=0.02)


def test_raising_one_weight_only_moves_keys_onto_that_node() -> None:
    before = RendezvousHash({"a": 1.0, "b": 1.0, "c": 1.0})
    after = RendezvousHash({"a": 1.0, "b": 2.0, "c": 1.0})
    moved = moves(before, after, KEYS)
    assert moved
    assert {m.target for m in moved} == {"b"}


def test_equal_weights_other_than_one_place_like_weight_one() -> None:
    nodes = ["a", "b", "c", "d"]
    assert RendezvousHash(dict.fromkeys(nodes, 5.0)).place_all(KEYS[:2000]) == \
        RendezvousHash(nodes).place_all(KEYS[:2000])


def test_node_order_does_not_matter() -> None:
    assert RendezvousHash(["a", "b", "c"]).place_all(KEYS[:2000]) == \
        RendezvousHash(["c", "a", "b"]).place_all(KEYS[:2000])
