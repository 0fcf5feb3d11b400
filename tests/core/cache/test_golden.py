"""Golden eviction sequences: small hand-worked examples, one or more per policy.

Each trace is a list of get-or-set requests (a miss inserts the key). The expected
victims were worked out by hand; the comments show the state after each step. Several
traces are chosen so that two policies that are easily confused disagree on them.
"""

from __future__ import annotations

from typing import Any

import pytest

from hld.core.cache import make

OrderedEvictions = list[Any]


def victims(policy: str, capacity: int, trace: str, **options: Any) -> OrderedEvictions:
    """The keys ``policy`` evicts, in order, replaying ``trace`` (space-separated keys)."""
    evicted: OrderedEvictions = []
    cache = make(policy, capacity, on_evict=lambda k, _v: evicted.append(k), **options)
    for key in trace.split():
        if cache.get(key) is None:
            cache.put(key, key)
    return evicted


def resident(policy: str, capacity: int, trace: str, **options: Any) -> set[str]:
    cache = make(policy, capacity, **options)
    for key in trace.split():
        if cache.get(key) is None:
            cache.put(key, key)
    return set(cache)


# -- LRU, FIFO, LIFO, MRU ---------------------------------------------------------------


def test_lru_evicts_the_least_recently_used() -> None:
    # A B C | A hit -> B C A | D evicts B -> C A D | B evicts C -> A D B | E evicts A
    assert victims("lru", 3, "A B C A D B E") == ["B", "C", "A"]
    assert resident("lru", 3, "A B C A D B E") == {"D", "B", "E"}


def test_fifo_ignores_hits() -> None:
    # A B C | A hit changes nothing | D evicts A -> B C D | B hit | E evicts B
    assert victims("fifo", 3, "A B C A D B E") == ["A", "B"]


def test_lifo_evicts_the_newest_entry() -> None:
    # A B C | A hit | D evicts C (newest) -> A B D | B hit | E evicts D
    assert victims("lifo", 3, "A B C A D B E") == ["C", "D"]


def test_mru_evicts_the_most_recently_used() -> None:
    # A B C | A hit (A most recent) | D evicts A -> B C D | C hit | E evicts C
    assert victims("mru", 3, "A B C A D C E") == ["A", "C"]


def test_mru_keeps_most_of_a_loop_larger_than_the_cache() -> None:
    loop = " ".join(["A B C D E"] * 4)
    cache = make("mru", 4)
    for key in loop.split():
        if cache.get(key) is None:
            cache.put(key, key)
    lru = make("lru", 4)
    for key in loop.split():
        if lru.get(key) is None:
            lru.put(key, key)
    # Round 1 fills A B C D and E evicts D; each later round misses once (D, then C,
    # then B) and hits four times. LRU misses every request of a loop one larger.
    assert lru.statistics().hits == 0
    assert cache.statistics().hits == 12


# -- LFU --------------------------------------------------------------------------------


def test_lfu_evicts_the_least_frequently_used() -> None:
    # A:2 B:2 C:1 | D evicts C | E evicts D (1 use, while A and B have 2)
    assert victims("lfu", 3, "A A B B C D E") == ["C", "D"]


def test_lfu_breaks_frequency_ties_by_least_recent_use() -> None:
    # A B C all reach 2 uses, A first | D evicts A (oldest of the 2s) | E evicts D (1 use)
    assert victims("lfu", 3, "A B C A B C D E") == ["A", "D"]
    # LRU would have evicted B second: the two policies disagree here.
    assert victims("lru", 3, "A B C A B C D E") == ["A", "B"]


def test_lfu_counts_updates_as_uses() -> None:
    cache = make("lfu", 2)
    cache.put("A", 1)
    cache.put("B", 1)
    cache.put("A", 2)  # A: 2 uses
    cache.put("C", 1)  # evicts B
    assert set(cache) == {"A", "C"}
    assert cache.frequency("A") == 2  # type: ignore[attr-defined]


# -- SLRU -------------------------------------------------------------------------------


def test_slru_protects_entries_used_twice_from_a_scan() -> None:
    # cap 4, protected 2: A B promoted by their second use; the scan C..G only churns
    # probation: E evicts C, F evicts D, G evicts E; A and B hit at the end.
    trace = "A B A B C D E F G A B"
    assert victims("slru", 4, trace, protected_ratio=0.5) == ["C", "D", "E"]
    assert victims("lru", 4, trace) == ["A", "B", "C", "D", "E"]


def test_slru_demotes_protected_overflow_to_probation() -> None:
    # cap 5, protected 2. A..E in probation; A, B, C hits promote; C's promotion
    # overflows protected, so A (its LRU) goes back to probation's recent end:
    # probation D E A, protected B C | F evicts D | G evicts E | H evicts A.
    assert victims("slru", 5, "A B C D E A B C F G H", protected_ratio=0.4) == ["D", "E", "A"]


# -- Random -----------------------------------------------------------------------------


class _AlwaysZero:
    def random(self) -> float:
        return 0.0


def test_random_evicts_the_slot_the_rng_draws() -> None:
    # Slots [A B C]; the rng always draws slot 0. D evicts A, C fills its slot: [C B D].
    # E evicts C, D fills the slot: [D B E].
    assert victims("random", 3, "A B C D E", rng=_AlwaysZero()) == ["A", "C"]


def test_random_with_the_same_seed_replays_the_same_victims() -> None:
    import random

    trace = " ".join(str(i % 17) for i in range(0, 400, 3))
    first = victims("random", 5, trace, rng=random.Random(11))
    again = victims("random", 5, trace, rng=random.Random(11))
    other = victims("random", 5, trace, rng=random.Random(12))
    assert first == again
    assert first != other


def test_random_draws_victims_uniformly() -> None:
    import random

    rng = random.Random(3)
    counts = dict.fromkeys("ABCD", 0)
    for _ in range(4000):
        evicted = victims("random", 4, "A B C D E", rng=rng)
        counts[evicted[0]] += 1
    assert all(850 < n < 1150 for n in counts.values()), counts


def test_random_without_an_rng_is_deterministic() -> None:
    trace = " ".join(str(i % 13) for i in range(300))
    assert victims("random", 4, trace) == victims("random", 4, trace)


def test_random_rejects_an_rng_without_random() -> None:
    with pytest.raises(TypeError, match=r"rng must have random\(\)"):
        make("random", 3, rng=object())


# -- CLOCK ------------------------------------------------------------------------------


def test_clock_gives_referenced_entries_a_second_chance() -> None:
    # Circle from the hand: A B C; B and A hit (bits set). D: A clear, moves on; B clear,
    # moves on; C evicted; D goes behind the hand: A B D. E: A's bit is clear: evicted.
    assert victims("clock", 3, "A B C B A D E") == ["C", "A"]
    # LRU remembers that A was used after B; CLOCK only that both were used.
    assert victims("lru", 3, "A B C B A D E") == ["C", "B"]
    assert victims("fifo", 3, "A B C B A D E") == ["A", "B"]


def test_clock_clears_every_bit_when_all_are_set() -> None:
    # All referenced: the hand goes round once clearing, then evicts the first, A.
    assert victims("clock", 3, "A B C A B C D") == ["A"]


# -- SIEVE ------------------------------------------------------------------------------


def test_sieve_hand_walks_from_the_tail_and_evicts_the_first_unvisited() -> None:
    # Queue tail->head A B C D E F G; A B D G visited.
    # H: hand A (clear) B (clear) C evicted; hand stays at D.  queue A B D E F G H
    # I: hand D (clear) E evicted; hand at F.                   queue A B D F G H I
    # J: F evicted; hand at G.                                  queue A B D G H I J
    # K: G (clear) H evicted; hand at I.                        queue A B D G I J K
    trace = "A B C D E F G A B D G H I J K"
    assert victims("sieve", 7, trace) == ["C", "E", "F", "H"]
    assert resident("sieve", 7, trace) == set("ABDGIJK")


def test_sieve_hand_persists_between_evictions() -> None:
    # Queue A B C D with A B visited. E: A, B cleared, C evicted, hand stays at D.
    # F: D evicted (the hand did not go back to the tail, where A is now unvisited);
    # G: E evicted, the newest entries go before the old survivors.
    assert victims("sieve", 4, "A B C D A B E F G") == ["C", "D", "E"]
    # A hand restarting at the tail would have evicted A second; CLOCK does, LRU too.
    assert victims("clock", 4, "A B C D A B E F G") == ["C", "D", "A"]
    assert victims("lru", 4, "A B C D A B E F G") == ["C", "D", "A"]
    assert victims("fifo", 4, "A B C D A B E F G") == ["A", "B", "C"]


def test_sieve_is_not_lfu_a_cleared_popular_entry_can_go() -> None:
    # A used four times. C: hand clears A, evicts B, passes the head, wraps to the tail.
    # D: A is now unvisited and under the hand: evicted, although LFU would keep it.
    assert victims("sieve", 2, "A A A A B C D") == ["B", "A"]
    assert victims("lfu", 2, "A A A A B C D") == ["B", "C"]


def test_sieve_is_not_fifo_a_visited_entry_survives() -> None:
    assert victims("sieve", 3, "A B C A D E") == ["B", "C"]
    assert victims("fifo", 3, "A B C A D E") == ["A", "B"]


def test_sieve_hits_do_not_move_entries() -> None:
    # If a hit moved A to the head, D would evict B then E would evict C; SIEVE leaves A
    # at the tail, where the hand clears it and passes: D evicts B, E evicts C, F evicts D
    # (the hand is past A), G evicts E, and only then, H wraps round to A.
    assert victims("sieve", 3, "A B C A D E F G H") == ["B", "C", "D", "E", "F"]


def test_sieve_delete_under_the_hand_moves_the_hand_on() -> None:
    evicted: list[str] = []
    cache = make("sieve", 4, on_evict=lambda k, _v: evicted.append(k))
    for key in "ABCD":
        cache.put(key, key)
    cache.get("A")
    cache.get("B")
    cache.put("E", "E")  # A, B cleared; C evicted; hand on D
    cache.delete("D")  # the hand moves on to E
    cache.put("F", "F")  # no eviction needed: D's room is free
    cache.put("G", "G")  # hand on E: evicted
    assert evicted == ["C", "E"]


# -- S3-FIFO ----------------------------------------------------------------------------


def test_s3fifo_moves_small_entries_hit_twice_to_main_and_remembers_the_rest() -> None:
    # cap 5: S holds 1 (10%, at least one), M 4, ghost 4 keys. A..E fill S.
    # A hit twice (freq 2), B once (freq 1).
    # F: S tail A has freq 2 -> moves to M; B has 1 -> evicted, key to ghost. S: C D E F
    # B: a ghost hit -> goes to M; making room drops C from S to the ghost. S: D E F, M: A B
    # G: D dropped. A hit. H: E dropped.
    trace = "A B C D E A A B F B G A H"
    assert victims("s3fifo", 5, trace) == ["B", "C", "D", "E"]
    assert resident("s3fifo", 5, trace) == {"A", "B", "F", "G", "H"}
    assert victims("fifo", 5, trace) == ["A", "B", "C", "D"]


def test_s3fifo_main_queue_reinserts_entries_with_a_nonzero_count() -> None:
    # cap 5. A..E each hit twice; F: all five move from S to M with their count reset;
    # S is empty so M evicts: A (count 0). F enters S. B hit (count 1).
    # G: S's F (count 0) dropped to the ghost. H: G dropped.
    # F again: a ghost hit -> M; room made by dropping H from S. M: B C D E F (over 4).
    # I: S is empty -> M: B has count 1 -> reinserted with 0; C evicted.
    trace = "A B C D E A B C D E A B C D E F B G H F I"
    assert victims("s3fifo", 5, trace) == ["A", "F", "G", "H", "C"]


def _s3fifo_victims_after_hits(hits_on_b: int) -> list[str]:
    """Victims of a long trace after B, resident in M, was hit ``hits_on_b`` times."""
    evicted: list[str] = []
    cache = make("s3fifo", 5, on_evict=lambda k, _v: evicted.append(k))
    for key in "ABCDE":
        cache.put(key, key)
    for _ in range(2):
        for key in "ABCDE":
            cache.get(key)
    cache.put("F", "F")  # A..E move to M with count 0; M evicts A
    for _ in range(hits_on_b):
        cache.get("B")
    others = [f"k{i % 5}" for i in range(60)]  # revisits, so ghost hits reach M
    for key in others:
        if cache.get(key) is None:
            cache.put(key, key)
    return evicted


def test_s3fifo_frequency_is_capped_at_three() -> None:
    cache = make("s3fifo", 5)
    cache.put("A", 1)
    for _ in range(10):
        cache.get("A")
    assert cache.frequency("A") == 3  # type: ignore[attr-defined]
    # Ten hits buy exactly what three buy; two buy less.
    three = _s3fifo_victims_after_hits(3)
    assert _s3fifo_victims_after_hits(10) == three
    assert _s3fifo_victims_after_hits(2) != three
    assert "B" in three


def test_s3fifo_rejects_bad_ratios() -> None:
    with pytest.raises(ValueError, match="small_ratio"):
        make("s3fifo", 10, small_ratio=0.0)
    with pytest.raises(ValueError, match="move_to_main_threshold"):
        make("s3fifo", 10, move_to_main_threshold=4)


def test_slru_rejects_bad_ratios() -> None:
    with pytest.raises(ValueError, match="protected_ratio"):
        make("slru", 10, protected_ratio=1.0)
