"""The frequency sketch: count-min with 4-bit counters, aging by halving, a doorkeeper."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from hld.core.cache.sketch import COUNTER_MAX, FrequencySketch


def test_estimates_never_undercount_before_aging() -> None:
    sketch = FrequencySketch(64, sample_size=1_000_000)
    rng = random.Random(3)
    uses = Counter(rng.choices(range(2_000), k=20_000))
    for key, count in uses.items():
        for _ in range(count):
            sketch.increment(key)
    for key, count in uses.items():
        assert sketch.frequency(key) >= min(count, COUNTER_MAX)


def test_a_key_never_seen_is_mostly_estimated_at_zero() -> None:
    sketch = FrequencySketch(1_000)
    for key in range(500):
        sketch.increment(key)
        sketch.increment(key)
    unseen = [sketch.frequency(key) for key in range(10_000, 11_000)]
    assert sum(1 for f in unseen if f == 0) >= 950


def test_first_use_only_reaches_the_doorkeeper() -> None:
    sketch = FrequencySketch(100)
    sketch.increment("once")
    assert sketch.frequency("once") == 1
    without_door = FrequencySketch(100, doorkeeper=False)
    without_door.increment("once")
    assert without_door.frequency("once") == 1
    # The doorkeeper's sighting is forgotten at aging, and a counter of 1 halves to 0.
    sketch.increment("twice")
    sketch.increment("twice")
    sketch.age()
    assert sketch.frequency("once") == 0
    assert sketch.frequency("twice") == 0  # counter 1 halves to 0, doorkeeper cleared


def test_aging_halves_every_counter() -> None:
    sketch = FrequencySketch(100, doorkeeper=False, sample_size=1_000)
    for _ in range(12):
        sketch.increment("hot")
    for _ in range(5):
        sketch.increment("warm")
    sketch.age()
    assert sketch.frequency("hot") == 6
    assert sketch.frequency("warm") == 2
    assert sketch.resets == 1


def test_aging_happens_by_itself_after_the_sample_size() -> None:
    sketch = FrequencySketch(100, doorkeeper=False, sample_size=64)
    for _ in range(10):
        sketch.increment("hot")
    for key in range(53):
        sketch.increment(("other", key))
    assert sketch.resets == 0
    sketch.increment(("other", 99))
    assert sketch.resets == 1
    assert sketch.frequency("hot") == 5


def test_counters_saturate_at_fifteen() -> None:
    sketch = FrequencySketch(100, doorkeeper=False, sample_size=10_000)
    for _ in range(100):
        sketch.increment(7)
    assert sketch.frequency(7) == COUNTER_MAX
    sketch.age()
    assert sketch.frequency(7) == COUNTER_MAX // 2


def test_slot_api_agrees_with_key_api() -> None:
    sketch = FrequencySketch(100)
    slots = sketch.slots("k")
    for _ in range(4):
        sketch.increment_slots(slots)
    assert sketch.frequency("k") == sketch.frequency_slots(slots) == 4


def test_more_frequent_adds_tallies_and_is_strict() -> None:
    sketch = FrequencySketch(100, doorkeeper=False)
    a, b = sketch.slots("a"), sketch.slots("b")
    for _ in range(3):
        sketch.increment("a")
    assert sketch.more_frequent(a, 0, b, 0)
    assert not sketch.more_frequent(a, 0, b, 3)   # a tie is not "more"
    assert sketch.more_frequent(b, 4, a, 0)
    assert not sketch.more_frequent(b, 100, a, 15)  # both beyond the counters' range


def test_uses_reported_outside_increment_drive_aging() -> None:
    sketch = FrequencySketch(100, doorkeeper=False, sample_size=100)
    slots = sketch.slots("k")
    sketch.add_counts(slots, 8)
    assert sketch.frequency("k") == 8
    sketch.add_uses(99)
    assert sketch.resets == 0
    sketch.add_uses(1)
    assert sketch.resets == 1
    assert sketch.frequency("k") == 4


def test_before_age_runs_first() -> None:
    calls: list[int] = []
    sketch = FrequencySketch(10, sample_size=5, before_age=lambda: calls.append(1))
    for key in range(5):
        sketch.increment(key)
    assert calls == [1]


def test_clear_forgets_everything() -> None:
    sketch = FrequencySketch(10)
    for _ in range(3):
        sketch.increment("k")
    sketch.clear()
    assert sketch.frequency("k") == 0


@pytest.mark.parametrize("capacity", [1, 10, 100_000, 1_000_000])
def test_any_capacity_gets_a_working_table(capacity: int) -> None:
    sketch = FrequencySketch(capacity, doorkeeper=False)
    sketch.increment(12345)
    assert sketch.frequency(12345) == 1
    assert sketch.width >= capacity


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="capacity"):
        FrequencySketch(0)
    with pytest.raises(ValueError, match="sample_size"):
        FrequencySketch(10, sample_size=0)
