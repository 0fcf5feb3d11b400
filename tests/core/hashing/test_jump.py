"""Jump consistent hash: published test vectors and its defining property."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hld.core.hashing import JumpHash, RemoveNode, jump_hash
from hld.core.hashing._hashes import key_hash64
from tests.core.hashing.contract import sample_keys

# Vectors used by the Go, Elixir and C ports of the paper's C++ code (dgryski/go-jump).
VECTORS = [
    (1, 1, 0), (42, 57, 43), (0xDEAD10CC, 1, 0), (0xDEAD10CC, 666, 361), (256, 1024, 520),
    (1, 128, 55), (129, 128, 120), (128, 100_000_000, 38_172_097),
    ((1 << 64) - 1, 128, 92),
]


@pytest.mark.parametrize(("key", "buckets", "bucket"), VECTORS)
def test_matches_the_published_vectors(key: int, buckets: int, bucket: int) -> None:
    assert jump_hash(key, buckets) == bucket


@settings(max_examples=200, deadline=None)
@given(key=st.integers(0, (1 << 64) - 1), buckets=st.integers(1, 5000))
def test_growing_by_one_bucket_keeps_a_key_or_sends_it_to_the_new_bucket(
        key: int, buckets: int) -> None:
    before = jump_hash(key, buckets)
    assert 0 <= before < buckets
    assert jump_hash(key, buckets + 1) in (before, buckets)


def test_zero_buckets_are_rejected() -> None:
    with pytest.raises(ValueError, match="buckets"):
        jump_hash(1, 0)


def test_removing_a_middle_node_moves_its_keys_and_the_last_buckets_keys() -> None:
    nodes = [f"n{i}" for i in range(10)]
    scheme = JumpHash(nodes)
    keys = sample_keys(5000)
    before = scheme.place_all(keys)
    moved = scheme.moved_keys(keys, RemoveNode("n3"))
    assert {m.source for m in moved} == {"n3", "n9"}
    assert sum(m.source == "n3" for m in moved) == before.count("n3")
    # n9 now sits in bucket 3; of its keys, those that fall back into bucket 3 stay (1/9).
    moved_from_last = sum(m.source == "n9" for m in moved)
    assert 0.8 < moved_from_last / before.count("n9") < 0.95
    scheme.remove("n3")
    assert scheme.slots == ("n0", "n1", "n2", "n9", "n4", "n5", "n6", "n7", "n8")


def test_the_scheme_buckets_keys_by_jump_hash_of_their_64_bit_hash() -> None:
    scheme = JumpHash([f"n{i}" for i in range(37)])
    for key in sample_keys(500):
        assert scheme.lookup(key) == scheme.slots[jump_hash(key_hash64(key), 37)]
