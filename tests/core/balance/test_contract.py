"""The contract every balancer honours, whatever its policy.

Each policy's test class inherits ``BalancerContract`` and says how to build it; every
test here then runs against it. The requests vary client address, key and header so
hash-based policies spread them too.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable

import pytest

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
from hld.core.balance.base import WhenAllEjected

NAMES = ("a", "b", "c", "d")


def requests(count: int) -> list[Request]:
    return [Request(client_address=f"10.0.{i // 250}.{i % 250}", key=f"user-{i}",
                    headers={"x-tenant": f"t{i}"}) for i in range(count)]


class BalancerContract:
    """Mixin: subclasses define ``make`` for one policy."""

    def make(self, pool: Pool, *, seed: int = 1, health: HealthTracker | None = None,
             when_all_ejected: WhenAllEjected = "panic") -> Balancer:
        raise NotImplementedError

    def build(self, names: Iterable[str | Backend] = NAMES, **kwargs: object) -> Balancer:
        return self.make(Pool(names), **kwargs)  # type: ignore[arg-type]

    def drive(self, balancer: Balancer, count: int, *, now: float = 0.0) -> list[str]:
        """Start ``count`` requests, all in flight together, then finish them all; return
        the names picked. Load-aware policies then see load and spread it."""
        picked = []
        for request in requests(count):
            backend = balancer.pick(request, now)
            balancer.on_start(backend)
            picked.append(backend)
        for backend in picked:
            balancer.on_finish(backend, 0.01, ok=True, now=now + 0.01)
        return [b.name for b in picked]

    # -- the contract ------------------------------------------------------------------

    def test_picks_only_members(self) -> None:
        balancer = self.build()
        assert set(self.drive(balancer, 200)) <= set(NAMES)

    def test_every_member_is_picked_eventually(self) -> None:
        balancer = self.build()
        assert set(self.drive(balancer, 400)) == set(NAMES)

    def test_empty_pool_raises_no_backend_available(self) -> None:
        balancer = self.build(())
        with pytest.raises(NoBackendAvailable, match="no backends"):
            balancer.pick(Request(key="k"), 0.0)

    def test_pool_emptied_at_runtime_raises(self) -> None:
        balancer = self.build(["a"])
        balancer.pick()
        balancer.pool.remove("a")
        with pytest.raises(NoBackendAvailable):
            balancer.pick()

    def test_never_picks_an_unhealthy_backend_while_a_healthy_one_exists(self) -> None:
        balancer = self.build()
        balancer.report_health("a", False, 0.0)
        balancer.report_health("c", False, 0.0)
        assert set(self.drive(balancer, 300)) == {"b", "d"}

    def test_never_picks_a_passively_ejected_backend(self) -> None:
        tracker = HealthTracker(OutlierDetection(consecutive_failures=2,
                                                 max_ejection_percent=50))
        balancer = self.build(health=tracker)
        victim = balancer.pick(Request(key="x"), 0.0)
        for _ in range(2):
            balancer.on_start(victim)
            balancer.on_finish(victim, 0.5, ok=False, now=1.0)
        assert tracker.is_ejected(victim.name)
        assert victim.name not in set(self.drive(balancer, 300, now=2.0))

    def test_ejected_backend_returns_after_its_ejection_time(self) -> None:
        tracker = HealthTracker(OutlierDetection(consecutive_failures=1,
                                                 base_ejection_time_s=30.0,
                                                 max_ejection_percent=50))
        balancer = self.build(["a", "b"], health=tracker)
        balancer.on_start(Backend("a"))
        balancer.on_finish(Backend("a"), 0.1, ok=False, now=10.0)
        assert set(self.drive(balancer, 50, now=20.0)) == {"b"}
        assert set(self.drive(balancer, 400, now=40.0)) == {"a", "b"}

    def test_all_ejected_with_fail_policy_raises(self) -> None:
        balancer = self.build(when_all_ejected="fail")
        for name in NAMES:
            balancer.report_health(name, False, 0.0)
        with pytest.raises(NoBackendAvailable, match="ejected or unhealthy"):
            balancer.pick(Request(key="k"), 0.0)
        balancer.report_health("c", True, 1.0)
        assert set(self.drive(balancer, 20, now=1.0)) == {"c"}

    def test_all_ejected_with_panic_policy_uses_all_members(self) -> None:
        balancer = self.build(when_all_ejected="panic")
        for name in NAMES:
            balancer.report_health(name, False, 0.0)
        assert set(self.drive(balancer, 400)) == set(NAMES)
        assert balancer.statistics().panic

    def test_added_backend_is_picked(self) -> None:
        balancer = self.build(["a", "b"])
        self.drive(balancer, 10)
        balancer.pool.add("e")
        # Latency-aware policies assume 1 s for a new backend, so it takes real load on
        # the others (about 100 in flight each at 10 ms) before "e" looks better.
        assert "e" in set(self.drive(balancer, 1000, now=1.0))

    def test_removed_backend_is_never_picked(self) -> None:
        balancer = self.build()
        self.drive(balancer, 10)
        balancer.pool.remove("b")
        assert set(self.drive(balancer, 300, now=1.0)) == {"a", "c", "d"}

    def test_weight_change_is_accepted_at_runtime(self) -> None:
        balancer = self.build()
        self.drive(balancer, 10)
        balancer.pool.set_weight("a", 3)
        assert balancer.pool.get("a") == Backend("a", 3)
        assert set(self.drive(balancer, 300, now=1.0)) == set(NAMES)

    def test_a_removed_backend_drains_its_in_flight_requests(self) -> None:
        balancer = self.build()
        backend = balancer.pick(Request(key="k"), 0.0)
        balancer.on_start(backend)
        balancer.pool.remove(backend.name)
        self.drive(balancer, 20, now=1.0)
        assert balancer.in_flight(backend) == 1
        balancer.on_finish(backend, 0.2, ok=True, now=2.0)
        assert balancer.in_flight(backend) == 0
        assert backend.name not in balancer.statistics().in_flight

    def test_in_flight_counts_follow_the_lifecycle(self) -> None:
        balancer = self.build()
        started = [balancer.pick(r, 0.0) for r in requests(8)]
        for backend in started:
            balancer.on_start(backend)
        expected = Counter(b.name for b in started)
        assert expected == Counter({n: balancer.in_flight(n) for n in NAMES
                                    if balancer.in_flight(n)})
        for backend in started:
            balancer.on_finish(backend, 0.01, ok=True, now=0.5)
        assert [balancer.in_flight(n) for n in NAMES] == [0, 0, 0, 0]

    def test_finish_without_start_is_an_error(self) -> None:
        balancer = self.build()
        with pytest.raises(ValueError, match="without a matching on_start"):
            balancer.on_finish(Backend("a"), 0.1, ok=True, now=0.0)

    @pytest.mark.parametrize("latency", [math.nan, math.inf, -0.5])
    def test_bad_latency_is_rejected_at_the_boundary(self, latency: float) -> None:
        balancer = self.build()
        backend = balancer.pick()
        balancer.on_start(backend)
        with pytest.raises(ValueError, match="latency_s"):
            balancer.on_finish(backend, latency, ok=True, now=0.0)

    def test_same_seed_same_picks(self) -> None:
        first = self.drive(self.build(seed=7), 200)
        second = self.drive(self.build(seed=7), 200)
        assert first == second

    def test_bad_when_all_ejected_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="when_all_ejected"):
            self.build(when_all_ejected="shrug")


class TestRoundRobin(BalancerContract):
    def make(self, pool: Pool, *, seed: int = 1, health: HealthTracker | None = None,
             when_all_ejected: WhenAllEjected = "panic") -> Balancer:
        return RoundRobin(pool, health=health, when_all_ejected=when_all_ejected)


class TestSmoothWeightedRoundRobin(BalancerContract):
    def make(self, pool: Pool, *, seed: int = 1, health: HealthTracker | None = None,
             when_all_ejected: WhenAllEjected = "panic") -> Balancer:
        return SmoothWeightedRoundRobin(pool, health=health,
                                        when_all_ejected=when_all_ejected)


class TestRandom(BalancerContract):
    def make(self, pool: Pool, *, seed: int = 1, health: HealthTracker | None = None,
             when_all_ejected: WhenAllEjected = "panic") -> Balancer:
        return RandomBalancer(pool, rng=random.Random(seed), health=health,
                              when_all_ejected=when_all_ejected)


class TestIpHash(BalancerContract):
    def make(self, pool: Pool, *, seed: int = 1, health: HealthTracker | None = None,
             when_all_ejected: WhenAllEjected = "panic") -> Balancer:
        return IpHash(pool, health=health, when_all_ejected=when_all_ejected)


class TestKeyHash(BalancerContract):
    def make(self, pool: Pool, *, seed: int = 1, health: HealthTracker | None = None,
             when_all_ejected: WhenAllEjected = "panic") -> Balancer:
        return KeyHash(pool, health=health, when_all_ejected=when_all_ejected)


class TestHeaderHash(BalancerContract):
    def make(self, pool: Pool, *, seed: int = 1, health: HealthTracker | None = None,
             when_all_ejected: WhenAllEjected = "panic") -> Balancer:
        return KeyHash(pool, header="X-Tenant", health=health,
                       when_all_ejected=when_all_ejected)


class TestLeastConnections(BalancerContract):
    def make(self, pool: Pool, *, seed: int = 1, health: HealthTracker | None = None,
             when_all_ejected: WhenAllEjected = "panic") -> Balancer:
        return LeastConnections(pool, health=health, when_all_ejected=when_all_ejected)


class TestWeightedLeastConnections(BalancerContract):
    def make(self, pool: Pool, *, seed: int = 1, health: HealthTracker | None = None,
             when_all_ejected: WhenAllEjected = "panic") -> Balancer:
        return WeightedLeastConnections(pool, health=health,
                                        when_all_ejected=when_all_ejected)


class TestEwma(BalancerContract):
    def make(self, pool: Pool, *, seed: int = 1, health: HealthTracker | None = None,
             when_all_ejected: WhenAllEjected = "panic") -> Balancer:
        return LeastResponseTime(pool, peak=False, health=health,
                                 when_all_ejected=when_all_ejected)


class TestPeakEwma(BalancerContract):
    def make(self, pool: Pool, *, seed: int = 1, health: HealthTracker | None = None,
             when_all_ejected: WhenAllEjected = "panic") -> Balancer:
        return LeastResponseTime(pool, peak=True, health=health,
                                 when_all_ejected=when_all_ejected)


class TestResourceBased(BalancerContract):
    def make(self, pool: Pool, *, seed: int = 1, health: HealthTracker | None = None,
             when_all_ejected: WhenAllEjected = "panic") -> Balancer:
        return ResourceBased(pool, health=health, when_all_ejected=when_all_ejected)


class TestP2CInFlight(BalancerContract):
    def make(self, pool: Pool, *, seed: int = 1, health: HealthTracker | None = None,
             when_all_ejected: WhenAllEjected = "panic") -> Balancer:
        return PowerOfTwoChoices(pool, rng=random.Random(seed), load="in_flight",
                                 health=health, when_all_ejected=when_all_ejected)


class TestP2CPeakEwma(BalancerContract):
    def make(self, pool: Pool, *, seed: int = 1, health: HealthTracker | None = None,
             when_all_ejected: WhenAllEjected = "panic") -> Balancer:
        return PowerOfTwoChoices(pool, rng=random.Random(seed), load="peak_ewma",
                                 health=health, when_all_ejected=when_all_ejected)
