"""Maglev: prime table, near-perfect balance, weights, and the bounded disruption."""

from __future__ import annotations

import pytest

from hld.core.hashing import MaglevHash
from hld.core.hashing.maglev import DEFAULT_TABLE_SIZE, is_prime

HUNDRED = [f"backend-{i}" for i in range(100)]


@pytest.fixture(scope="module")
def hundred() -> MaglevHash:
    return MaglevHash(HUNDRED)


def test_the_default_table_is_envoys_prime() -> None:
    assert DEFAULT_TABLE_SIZE == 65537
    assert is_prime(DEFAULT_TABLE_SIZE)


@pytest.mark.parametrize("size", [0, 1, 4, 65536, 10001])
def test_non_prime_table_sizes_are_rejected(size: int) -> None:
    assert not is_prime(size)
    with pytest.raises(ValueError, match=r"prime|table_size"):
        MaglevHash(["a"], table_size=size)


def test_every_slot_is_filled_by_a_member(hundred: MaglevHash) -> None:
    counts = hundred.slot_counts()
    assert sum(counts.values()) == DEFAULT_TABLE_SIZE
    assert set(counts) == set(HUNDRED)


def test_load_of_100_backends_is_within_one_percent_of_the_mean(hundred: MaglevHash) -> None:
    shares = hundred.shares()
    mean = 1 / len(HUNDRED)
    assert max(shares.values()) / mean <= 1.01
    assert min(shares.values()) / mean >= 0.99


def test_one_of_100_leaving_moves_few_slots_of_the_others(hundred: MaglevHash) -> None:
    after = hundred.copy()
    after.remove("backend-42")
    before_table = hundred.table()
    after_table = after.table()
    others = sum(1 for a, b in zip(before_table, after_table, strict=True)
                 if a not in (b, "backend-42"))
    assert others / DEFAULT_TABLE_SIZE <= 0.01  # the paper and Envoy report about 0.5 %
    assert "backend-42" not in set(after_table)


def test_weights_give_proportional_slot_counts() -> None:
    counts = MaglevHash({"a": 1, "b": 2, "c": 3}, table_size=10007).slot_counts()
    assert counts["b"] / counts["a"] == pytest.approx(2, rel=0.01)
    assert counts["c"] / counts["a"] == pytest.approx(3, rel=0.01)


def test_more_nodes_than_slots_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="larger prime"):
        MaglevHash([f"n{i}" for i in range(8)], table_size=7)
