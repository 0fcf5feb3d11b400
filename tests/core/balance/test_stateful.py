"""A balancer with health, driven at random against a simple reference model.

The model keeps, per backend, the run of failures, the ejection multiplier, when the
current ejection ends and the active-check verdict, and applies the rules as stated in
``hld.core.balance.health`` in the plainest way. After every step the balancer's view of
availability must equal the model's, every pick must be an available member (or any
member when none is available: panic mode), and the ejected count must respect the cap.
"""

from __future__ import annotations

import math
import random
import unittest
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from hld.core.balance import (
    Backend,
    Balancer,
    HealthTracker,
    IpHash,
    KeyHash,
    LeastConnections,
    LeastResponseTime,
    NoBackendAvailable,
    OutlierDetection,
    Pool,
    PowerOfTwoChoices,
    RandomBalancer,
    Request,
    ResourceBased,
    RoundRobin,
    SmoothWeightedRoundRobin,
    WeightedLeastConnections,
)

NAMES = [f"n{i}" for i in range(8)]
# Requests carry a client address and a key, so the hash policies hash rather than fall back.
REQUESTS = [Request(client_address=f"10.0.0.{i}", key=f"user{i}") for i in range(7)]
CONFIG = OutlierDetection(consecutive_failures=3, base_ejection_time_s=5.0,
                          max_ejection_time_s=12.0, max_ejection_percent=40.0,
                          decay_interval_s=4.0)


@dataclass
class ModelHost:
    failures: int = 0
    ejections: int = 0
    until: float | None = None
    readmitted: float | None = None
    healthy: bool = True


class BalancerWithHealth(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pool = Pool()
        self.health = HealthTracker(CONFIG)
        self.balancer = self.make_balancer(self.pool, self.health)
        self.model: dict[str, ModelHost] = {}
        self.now = 0.0
        self.picks = 0

    def make_balancer(self, pool: Pool, health: HealthTracker) -> Balancer:
        return RoundRobin(pool, health=health)

    # -- the model's rules ---------------------------------------------------------------

    def model_readmit(self) -> None:
        for host in self.model.values():
            if host.until is not None and host.until <= self.now:
                host.readmitted, host.until, host.failures = host.until, None, 0

    def model_available(self) -> set[str]:
        return {n for n, h in self.model.items() if h.until is None and h.healthy}

    def model_cap(self) -> int:
        return max(1, math.floor(len(self.model) * CONFIG.max_ejection_percent / 100))

    def model_record(self, name: str, ok: bool) -> None:
        host = self.model.get(name)
        if host is None:
            return
        if ok:
            host.failures = 0
            return
        if host.until is not None:
            return
        host.failures += 1
        ejected = sum(h.until is not None for h in self.model.values())
        if host.failures < CONFIG.consecutive_failures or ejected >= self.model_cap():
            return
        if host.readmitted is not None:
            quiet = math.floor((self.now - host.readmitted) / CONFIG.decay_interval_s)
            host.ejections = max(0, host.ejections - quiet)
        host.ejections += 1
        host.until = self.now + min(CONFIG.base_ejection_time_s * host.ejections,
                                    CONFIG.max_ejection_time_s)
        host.failures = 0

    # -- rules ---------------------------------------------------------------------------

    @initialize(count=st.integers(1, 5))
    def start(self, count: int) -> None:
        for name in NAMES[:count]:
            self.pool.add(name)
            self.model[name] = ModelHost()

    @rule(index=st.integers(0, len(NAMES) - 1))
    def add(self, index: int) -> None:
        name = NAMES[index]
        if name not in self.model:
            self.pool.add(Backend(name, 1 + index % 3))
            self.model[name] = ModelHost()

    @precondition(lambda self: len(self.model) > 1)
    @rule(index=st.integers(0, len(NAMES) - 1))
    def remove(self, index: int) -> None:
        name = NAMES[index]
        if name in self.model:
            self.pool.remove(name)
            del self.model[name]
            # The tracker learns of pool changes on the balancer's next call; make that
            # call now so the model need not mimic the laziness.
            self.balancer.candidates(self.now)
            # A smaller cap cuts short the ejections that end soonest.
            ejected = sorted((h.until, n) for n, h in self.model.items() if h.until is not None)
            for until, other in ejected[:max(0, len(ejected) - self.model_cap())]:
                host = self.model[other]
                host.readmitted, host.until, host.failures = until, None, 0

    @rule(dt=st.sampled_from([0.0, 0.5, 1.0, 3.0, 5.0, 13.0]))
    def advance(self, dt: float) -> None:
        self.now += dt

    @rule(ok=st.booleans(), times=st.integers(1, 4))
    def requests(self, ok: bool, times: int) -> None:
        for _ in range(times):
            self.model_readmit()
            available = self.model_available()
            try:
                backend = self.balancer.pick(REQUESTS[self.picks % len(REQUESTS)], self.now)
                self.picks += 1
            except NoBackendAvailable:
                assert not self.model
                return
            assert backend.name in (available or set(self.model))
            self.balancer.on_start(backend)
            self.balancer.on_finish(backend, 0.01, ok=ok, now=self.now)
            self.model_record(backend.name, ok)

    @rule(index=st.integers(0, len(NAMES) - 1), healthy=st.booleans())
    def active_check(self, index: int, healthy: bool) -> None:
        name = NAMES[index]
        if name not in self.model:
            return
        self.model_readmit()
        self.balancer.report_health(name, healthy, self.now)
        host = self.model[name]
        host.healthy = healthy
        if healthy and host.until is not None:
            host.readmitted, host.until, host.failures = self.now, None, 0

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def candidates_match_the_model(self) -> None:
        """Available members, or every member in panic mode (none available)."""
        self.model_readmit()
        expected = self.model_available() or set(self.model)
        assert expected == {b.name for b in self.balancer.candidates(self.now)}

    @invariant()
    def ejection_ends_match_the_model(self) -> None:
        self.balancer.candidates(self.now)  # the balancer syncs its tracker lazily
        expected = {n: h.until for n, h in self.model.items() if h.until is not None}
        assert expected == dict(self.health.statistics().ejected_until_s)

    @invariant()
    def ejected_count_respects_the_cap(self) -> None:
        self.balancer.candidates(self.now)
        assert self.health.ejected_count() <= self.model_cap()


BalancerWithHealth.TestCase.settings = settings(max_examples=60, stateful_step_count=40,
                                                deadline=None)
TestBalancerWithHealth = BalancerWithHealth.TestCase


# Every other policy runs the same machine: whatever its choice rule, a pick is an
# available member whenever one exists, and health bookkeeping is the tracker's, shared.
POLICIES: dict[str, Callable[[Pool, HealthTracker], Balancer]] = {
    "weighted_round_robin": lambda p, h: SmoothWeightedRoundRobin(p, health=h),
    "random": lambda p, h: RandomBalancer(p, rng=random.Random(7), health=h),
    "ip_hash": lambda p, h: IpHash(p, health=h),
    "key_hash": lambda p, h: KeyHash(p, health=h),
    "least_connections": lambda p, h: LeastConnections(p, health=h),
    "weighted_least_connections": lambda p, h: WeightedLeastConnections(p, health=h),
    "ewma": lambda p, h: LeastResponseTime(p, health=h),
    "peak_ewma": lambda p, h: LeastResponseTime(p, peak=True, health=h),
    "resource_based": lambda p, h: ResourceBased(p, health=h),
    "p2c": lambda p, h: PowerOfTwoChoices(p, rng=random.Random(7), health=h),
}


def _machine_for(name: str, factory: Callable[[Pool, HealthTracker], Balancer]
                 ) -> type[unittest.TestCase]:
    machine: type[BalancerWithHealth] = type(
        f"Balancer{name.title().replace('_', '')}WithHealth", (BalancerWithHealth,),
        {"make_balancer": lambda self, pool, health: factory(pool, health)})
    machine.TestCase.settings = settings(max_examples=15, stateful_step_count=30,
                                         deadline=None)
    return machine.TestCase


for _name, _factory in POLICIES.items():
    globals()[f"Test{_name.title().replace('_', '')}WithHealth"] = _machine_for(_name, _factory)
