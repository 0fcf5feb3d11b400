"""Stateful tests: each policy against a naive, obviously-correct reference model.

The models keep a plain Python list and do everything by linear scans, the way the
policies are described in their papers; the real policies must make exactly the same
decisions (same values returned, same victims in the same order, same contents) for any
sequence of get / put / delete / peek that hypothesis can come up with.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from hld.core.cache import Cache, make

KEYS = st.integers(min_value=0, max_value=12)
VALUES = st.integers(min_value=0, max_value=99)
# A larger small queue than the default 10%, so that S holds several entries at the
# capacities hypothesis explores.
S3FIFO_SMALL_RATIO = 0.3
# derandomize: the same examples on every run, so CI is deterministic; widen max_examples
# locally to search further.
SETTINGS = settings(max_examples=30, stateful_step_count=30, deadline=None, derandomize=True)


def _weight_of(value: int) -> int:
    return value % 4  # 0..3: zero-weight entries included


class Model:
    """The interface of every reference model; ``evicted`` collects victims in order."""

    #: True when the machine runs its policy with the weigher ``_weight_of``.
    weighted: ClassVar[bool] = False

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.order: list[Any] = []  # meaning depends on the policy, documented per model
        self.values: dict[Any, Any] = {}
        self.evicted: list[Any] = []

    def weight_of(self, value: Any) -> int:
        return _weight_of(value) if self.weighted else 1

    def total(self) -> int:
        return sum(self.weight_of(value) for value in self.values.values())

    def get(self, key: Any) -> Any:
        if key not in self.values:
            return None
        self.used(key)
        return self.values[key]

    def put(self, key: Any, value: Any) -> None:
        if key in self.values:
            if self.weight_of(self.values[key]) == self.weight_of(value):
                self.values[key] = value
                self.used(key)
                return
            self.forget(key)  # a new weight: re-admitted as a new entry
        while self.total() + self.weight_of(value) > self.capacity:
            victim = self.victim()
            self.forget(victim)
            self.evicted.append(victim)
        self.values[key] = value
        self.inserted(key)

    def delete(self, key: Any) -> bool:
        if key not in self.values:
            return False
        self.forget(key)
        return True

    def forget(self, key: Any) -> None:
        del self.values[key]
        self.order.remove(key)

    def used(self, key: Any) -> None:
        raise NotImplementedError

    def inserted(self, key: Any) -> None:
        self.order.append(key)

    def victim(self) -> Any:
        raise NotImplementedError


class LRUModel(Model):
    """order: least recently used first."""

    def used(self, key: Any) -> None:
        self.order.remove(key)
        self.order.append(key)

    def victim(self) -> Any:
        return self.order[0]


class FIFOModel(Model):
    """order: oldest insertion first; uses change nothing."""

    def used(self, key: Any) -> None:
        pass

    def victim(self) -> Any:
        return self.order[0]


class LFUModel(Model):
    """Victim: fewest uses, and among those the one whose last use is oldest."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.uses: dict[Any, int] = {}
        self.last_use: dict[Any, int] = {}
        self.clock = 0

    def used(self, key: Any) -> None:
        self.uses[key] += 1
        self.clock += 1
        self.last_use[key] = self.clock

    def inserted(self, key: Any) -> None:
        super().inserted(key)
        self.uses[key] = 0
        self.used(key)

    def forget(self, key: Any) -> None:
        super().forget(key)
        del self.uses[key], self.last_use[key]

    def victim(self) -> Any:
        return min(self.order, key=lambda k: (self.uses[k], self.last_use[k]))


class ClockModel(Model):
    """order: the circle read from the hand; a referenced entry goes round again."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.referenced: set[Any] = set()

    def used(self, key: Any) -> None:
        self.referenced.add(key)

    def forget(self, key: Any) -> None:
        super().forget(key)
        self.referenced.discard(key)

    def victim(self) -> Any:
        while self.order[0] in self.referenced:
            key = self.order.pop(0)
            self.referenced.discard(key)
            self.order.append(key)
        return self.order[0]


class SieveModel(Model):
    """order: tail (oldest insertion) first; the hand is a key, or None for "the tail"."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.visited: set[Any] = set()
        self.hand: Any = None

    def used(self, key: Any) -> None:
        self.visited.add(key)

    def _newer(self, key: Any) -> Any:
        position = self.order.index(key)
        return self.order[position + 1] if position + 1 < len(self.order) else None

    def forget(self, key: Any) -> None:
        if self.hand == key:
            self.hand = self._newer(key)
        super().forget(key)
        self.visited.discard(key)

    def victim(self) -> Any:
        position = 0 if self.hand is None else self.order.index(self.hand)
        while self.order[position] in self.visited:
            self.visited.discard(self.order[position])
            position = (position + 1) % len(self.order)
        # The hand rests on the victim; forget() then moves it to the victim's newer side.
        self.hand = self.order[position]
        return self.hand


class WeightedLRUModel(LRUModel):
    weighted = True


class WeightedFIFOModel(FIFOModel):
    weighted = True


class SLRUModel(Model):
    """order: probation, least recent first; protected: the same for the other segment."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.protected: list[Any] = []
        self.protected_capacity = int(capacity * 0.8)

    def used(self, key: Any) -> None:
        if key in self.protected:
            self.protected.remove(key)
        else:
            self.order.remove(key)
        self.protected.append(key)
        while len(self.protected) > self.protected_capacity:
            self.order.append(self.protected.pop(0))

    def forget(self, key: Any) -> None:
        del self.values[key]
        (self.protected if key in self.protected else self.order).remove(key)

    def victim(self) -> Any:
        return self.order[0] if self.order else self.protected[0]


class S3FIFOModel(Model):
    """order: S, oldest first; main: M, oldest first; ghost: G, oldest first."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.small_capacity = max(1, int(capacity * S3FIFO_SMALL_RATIO))
        self.ghost_capacity = max(1, capacity - self.small_capacity)
        self.main: list[Any] = []
        self.ghost: list[Any] = []
        self.freq: dict[Any, int] = {}

    def used(self, key: Any) -> None:
        self.freq[key] = min(self.freq[key] + 1, 3)

    def put(self, key: Any, value: Any) -> None:
        if key in self.values:
            self.values[key] = value
            self.used(key)
            return
        returning = key in self.ghost
        if returning:
            self.ghost.remove(key)
        while len(self.values) >= self.capacity:
            self.evict()
        self.values[key] = value
        self.freq[key] = 0
        (self.main if returning else self.order).append(key)

    def evict(self) -> None:
        if self.order and (len(self.order) >= self.small_capacity or not self.main):
            while self.order:
                key = self.order.pop(0)
                if self.freq[key] >= 2:
                    self.freq[key] = 0
                    self.main.append(key)
                    continue
                self.ghost.append(key)
                del self.ghost[:-self.ghost_capacity]
                self.drop(key)
                return
        while True:
            key = self.main.pop(0)
            if self.freq[key]:
                self.freq[key] -= 1
                self.main.append(key)
                continue
            self.drop(key)
            return

    def drop(self, key: Any) -> None:
        del self.values[key], self.freq[key]
        self.evicted.append(key)

    def forget(self, key: Any) -> None:
        del self.values[key], self.freq[key]
        (self.order if key in self.order else self.main).remove(key)


class PolicyMachine(RuleBasedStateMachine):
    """Drives one policy and its model with the same operations and compares them."""

    policy: ClassVar[str]
    model_class: ClassVar[type[Model]]
    options: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        super().__init__()
        self.cache: Cache[Any, Any] | None = None
        self.model: Model = self.model_class(1)
        self.evicted: list[Any] = []

    @initialize(capacity=st.integers(min_value=1, max_value=12))
    def create(self, capacity: int) -> None:
        weigher = (lambda _k, v: _weight_of(v)) if self.model_class.weighted else None
        self.cache = make(self.policy, capacity, **self.options, weigher=weigher,
                          on_evict=lambda k, _v: self.evicted.append(k))
        self.model = self.model_class(capacity)

    @property
    def real(self) -> Cache[Any, Any]:
        assert self.cache is not None
        return self.cache

    @rule(key=KEYS)
    def get(self, key: int) -> None:
        assert self.real.get(key) == self.model.get(key)

    @rule(key=KEYS, value=VALUES)
    def put(self, key: int, value: int) -> None:
        if self.model.weight_of(value) > self.model.capacity:
            with pytest.raises(ValueError, match="more than the whole capacity"):
                self.real.put(key, value)  # refused, and nothing changes
            return
        self.real.put(key, value)
        self.model.put(key, value)

    @rule(key=KEYS)
    def delete(self, key: int) -> None:
        assert self.real.delete(key) == self.model.delete(key)

    @rule(key=KEYS)
    def peek(self, key: int) -> None:
        assert self.real.peek(key) == self.model.values.get(key)

    @invariant()
    def same_victims_and_contents(self) -> None:
        if self.cache is None:
            return
        assert self.evicted == self.model.evicted
        assert set(self.cache) == set(self.model.values)
        assert len(self.cache) == len(self.model.values)
        assert self.cache.weight == self.model.total()
        assert self.cache.statistics().evictions == len(self.model.evicted)


class LRUMachine(PolicyMachine):
    policy = "lru"
    model_class = LRUModel


class FIFOMachine(PolicyMachine):
    policy = "fifo"
    model_class = FIFOModel


class LFUMachine(PolicyMachine):
    policy = "lfu"
    model_class = LFUModel


class ClockMachine(PolicyMachine):
    policy = "clock"
    model_class = ClockModel


class SieveMachine(PolicyMachine):
    policy = "sieve"
    model_class = SieveModel


class WeightedLRUMachine(PolicyMachine):
    """LRU and FIFO have a separate, weighted code path: check it against the model too."""

    policy = "lru"
    model_class = WeightedLRUModel


class WeightedFIFOMachine(PolicyMachine):
    policy = "fifo"
    model_class = WeightedFIFOModel


class SLRUMachine(PolicyMachine):
    policy = "slru"
    model_class = SLRUModel


class S3FIFOMachine(PolicyMachine):
    policy = "s3fifo"
    model_class = S3FIFOModel
    options: ClassVar[dict[str, Any]] = {"small_ratio": S3FIFO_SMALL_RATIO}


TestLRUAgainstModel = SETTINGS(LRUMachine).TestCase
TestFIFOAgainstModel = SETTINGS(FIFOMachine).TestCase
TestLFUAgainstModel = SETTINGS(LFUMachine).TestCase
TestClockAgainstModel = SETTINGS(ClockMachine).TestCase
TestSieveAgainstModel = SETTINGS(SieveMachine).TestCase
TestSLRUAgainstModel = SETTINGS(SLRUMachine).TestCase
TestWeightedLRUAgainstModel = SETTINGS(WeightedLRUMachine).TestCase
TestWeightedFIFOAgainstModel = SETTINGS(WeightedFIFOMachine).TestCase
TestS3FIFOAgainstModel = SETTINGS(S3FIFOMachine).TestCase
