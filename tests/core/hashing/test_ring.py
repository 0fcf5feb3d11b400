"""Rings: placements equal to uhashring's (both modes), collisions, arcs, and a stateful
comparison against a naive linear-scan ring."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from uhashring import HashRing as PeerRing

from hld.core.hashing import EmptyNodeSetError, HashRing, KetamaRing, Md5Ring
from hld.core.hashing._hashes import label_hash32, md5
from tests.core.hashing.contract import sample_keys

KEYS = sample_keys(6000, seed=3)
WEIGHTED = {f"cache-{i}.example:11211": 1 + i % 3 for i in range(8)}


def disagreements(ours: HashRing, peer: PeerRing, keys: Iterable[str] = KEYS) -> int:
    return sum(ours.lookup(k) != peer.get_node(k) for k in keys)


class TestKetamaEqualsUhashring:
    def test_unweighted_placements_are_equal(self) -> None:
        nodes = [f"10.0.0.{i}:11211" for i in range(10)]
        assert disagreements(KetamaRing(nodes), PeerRing(nodes, hash_fn="ketama")) == 0

    def test_weighted_placements_are_equal(self) -> None:
        ours = KetamaRing(WEIGHTED)
        peer = PeerRing(WEIGHTED, hash_fn="ketama")
        assert disagreements(ours, peer) == 0

    def test_the_same_points_with_the_same_owners(self) -> None:
        ours = KetamaRing(WEIGHTED)
        peer = PeerRing(WEIGHTED, hash_fn="ketama")
        assert ours.points() == [(p, peer.runtime._ring[p]) for p in sorted(peer.runtime._ring)]

    @pytest.mark.parametrize("vnodes", [1, 10, 40, 100])
    def test_placements_are_equal_at_other_vnode_counts(self, vnodes: int) -> None:
        ours = KetamaRing(WEIGHTED, vnodes=vnodes)
        peer = PeerRing(WEIGHTED, hash_fn="ketama", vnodes=vnodes)
        assert disagreements(ours, peer, KEYS[:2000]) == 0

    def test_placements_stay_equal_through_membership_changes(self) -> None:
        ours = KetamaRing(WEIGHTED)
        peer = PeerRing(WEIGHTED, hash_fn="ketama")
        ours.add("late:11211", 2)
        peer.add_node("late:11211", {"weight": 2})
        assert disagreements(ours, peer, KEYS[:3000]) == 0
        ours.remove("cache-3.example:11211")
        peer.remove_node("cache-3.example:11211")
        assert disagreements(ours, peer, KEYS[:3000]) == 0

    def test_bytes_keys_land_where_their_utf8_text_does(self) -> None:
        ours = KetamaRing(WEIGHTED)
        peer = PeerRing(WEIGHTED, hash_fn="ketama")
        assert [ours.lookup(k.encode()) for k in KEYS[:500]] == \
            [peer.get_node(k) for k in KEYS[:500]]


class TestMd5RingEqualsUhashringDefault:
    def test_unweighted_placements_are_equal(self) -> None:
        nodes = [f"node{i}" for i in range(10)]
        assert disagreements(Md5Ring(nodes), PeerRing(nodes)) == 0

    def test_weighted_placements_are_equal(self) -> None:
        assert disagreements(Md5Ring(WEIGHTED), PeerRing(WEIGHTED)) == 0

    def test_placements_stay_equal_through_membership_changes(self) -> None:
        ours = Md5Ring(WEIGHTED)
        peer = PeerRing(WEIGHTED)
        ours.add("late", 3)
        peer.add_node("late", {"weight": 3})
        ours.remove("cache-0.example:11211")
        peer.remove_node("cache-0.example:11211")
        assert disagreements(ours, peer, KEYS[:3000]) == 0

    def test_unicode_keys_are_hashed_as_utf8(self) -> None:
        nodes = ["a", "b", "c"]
        keys = ["clé", "键", "ключ", "🔑"]
        assert [Md5Ring(nodes).lookup(k) for k in keys] == [PeerRing(nodes).get_node(k)
                                                            for k in keys]


class TestHashRing:
    def test_points_per_node_follow_vnodes_and_weight(self) -> None:
        ring = HashRing({"a": 1, "b": 2.5}, vnodes=10)
        assert (len(ring.node_points("a")), len(ring.node_points("b"))) == (10, 25)
        assert len(ring.points()) == 35

    def test_arc_shares_sum_to_one_and_predict_key_load(self) -> None:
        ring = HashRing([f"n{i}" for i in range(5)], vnodes=50)
        shares = ring.arc_shares()
        assert sum(shares.values()) == pytest.approx(1.0)
        keys = sample_keys(20000, seed=5)
        placed = ring.place_all(keys)
        for node, share in shares.items():
            assert placed.count(node) / len(keys) == pytest.approx(share, abs=0.02)

    def test_a_key_goes_to_the_first_point_strictly_after_its_hash(self) -> None:
        ring = HashRing(["a", "b", "c"], vnodes=4)
        points = ring.points()
        for key in KEYS[:300]:
            h = ring.key_point(key)
            after = [owner for p, owner in points if p > h]
            assert ring.lookup(key) == (after[0] if after else points[0][1])

    def test_more_vnodes_spread_load_more_evenly(self) -> None:
        nodes = [f"n{i}" for i in range(10)]

        def spread(vnodes: int) -> float:
            shares = HashRing(nodes, vnodes=vnodes).arc_shares().values()
            return max(shares) / min(shares)

        assert spread(1000) < spread(100) < spread(1)

    def test_successors_walk_distinct_nodes_clockwise(self) -> None:
        ring = HashRing([f"n{i}" for i in range(6)])
        for key in KEYS[:50]:
            chain = ring.successors(key, 3)
            assert chain[0] == ring.lookup(key)
            assert len(set(chain)) == 3
        assert len(ring.successors("k", 99)) == 6
        with pytest.raises(EmptyNodeSetError):
            HashRing().successors("k", 1)

    def test_a_colliding_point_belongs_to_the_later_node(self) -> None:
        class TinyRing(HashRing):
            """Points squeezed into 8 values so that nodes collide."""

            def _label_points(self, node: str, index: int) -> list[int]:
                return [label_hash32(f"{node}-{index}") % 8 * (1 << 29)]

        ring = TinyRing(["a", "b"], vnodes=6)
        owners = dict(ring.points())
        shared = set(ring.node_points("a")) & set(ring.node_points("b"))
        assert shared  # the test needs a collision
        assert all(owners[p] == "b" for p in shared)
        ring.remove("b")
        assert set(dict(ring.points()).values()) == {"a"}

    def test_vnodes_out_of_range_are_rejected(self) -> None:
        with pytest.raises(ValueError, match="vnodes"):
            HashRing(["a"], vnodes=0)
        with pytest.raises(TypeError, match="vnodes"):
            HashRing(["a"], vnodes=1.5)  # type: ignore[arg-type]

    def test_a_failed_add_leaves_the_ring_as_it_was(self) -> None:
        ring = HashRing(["a"], vnodes=10_000)
        with pytest.raises(ValueError, match="points exceed"):
            ring.add("huge", 2000.0)
        assert ring.nodes == ("a",)
        assert ring.lookup("k") == "a"


class NaiveRing:
    """The reference model: a list of (point, node) scanned linearly on every lookup."""

    def __init__(self, vnodes: int) -> None:
        self.vnodes = vnodes
        self.members: dict[str, float] = {}
        self.owner: dict[int, str] = {}

    def changed(self) -> None:
        self.owner = {}
        for node, weight in self.members.items():  # join order: later nodes overwrite
            for i in range(max(1, round(self.vnodes * weight))):
                self.owner[label_hash32(f"{node}-{i}")] = node

    def lookup(self, key: str) -> str | None:
        if not self.owner:
            return None
        h = zlib.crc32(key.encode())
        after = [p for p in self.owner if p > h]
        return self.owner[min(after)] if after else self.owner[min(self.owner)]


NAMES = st.sampled_from([f"node-{i}" for i in range(8)])
WEIGHTS = st.sampled_from([0.5, 1.0, 2.0, 3.0])
STATE_KEYS = st.text(min_size=0, max_size=12)


class RingMachine(RuleBasedStateMachine):
    """Any sequence of adds, removes and lookups agrees with the naive ring."""

    def __init__(self) -> None:
        super().__init__()
        self.ring = HashRing(vnodes=8)
        self.model = NaiveRing(vnodes=8)

    @rule(node=NAMES, weight=WEIGHTS)
    def add(self, node: str, weight: float) -> None:
        if node in self.model.members:
            with pytest.raises(ValueError, match="already"):
                self.ring.add(node, weight)
        else:
            self.ring.add(node, weight)
            self.model.members[node] = weight
            self.model.changed()

    @precondition(lambda self: bool(self.model.members))
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        node = data.draw(st.sampled_from(sorted(self.model.members)))
        self.ring.remove(node)
        del self.model.members[node]
        self.model.changed()

    @rule(key=STATE_KEYS)
    def lookup(self, key: str) -> None:
        expected = self.model.lookup(key)
        if expected is None:
            with pytest.raises(EmptyNodeSetError):
                self.ring.lookup(key)
        else:
            assert self.ring.lookup(key) == expected

    @invariant()
    def same_members_in_join_order(self) -> None:
        assert self.ring.nodes == tuple(self.model.members)


RingMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=20,
                                         deadline=None)
TestRingMachine = RingMachine.TestCase


@pytest.mark.parametrize("data", [b"", b"a", b"key:1", "clé".encode(), bytes(range(256)) * 3])
def test_the_md5_in_use_computes_the_standard_digest(data: bytes) -> None:
    assert md5(data).digest() == hashlib.md5(data).digest()  # noqa: S324 - a checksum here
