"""Circuit breaker: the transition table, the windows, half-open probes, events, stats."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hld.core.resilience import (
    TRANSITIONS,
    BreakerConfig,
    CircuitBreaker,
    IllegalTransition,
    ResilienceConfigError,
    State,
    StateChange,
    Trigger,
    transitions_markdown,
)

FAST_S = 0.01
SLOW_S = 5.0


def small(**overrides: object) -> BreakerConfig:
    values: dict[str, object] = {
        "window_calls": 4, "minimum_calls": 4, "open_s": 10.0, "half_open_probes": 2,
        "slow_call_duration_s": 1.0, "failure_rate_threshold_pct": 50.0,
    }
    values.update(overrides)
    return BreakerConfig(**values)  # type: ignore[arg-type]


def state_of(b: CircuitBreaker) -> State:
    """The state, read through a call so that mypy does not narrow it between steps."""
    return b.state


def fail(b: CircuitBreaker, now: float, n: int = 1) -> None:
    for _ in range(n):
        assert b.try_acquire(now)
        b.on_failure(FAST_S, now)


def succeed(b: CircuitBreaker, now: float, n: int = 1, duration_s: float = FAST_S) -> None:
    for _ in range(n):
        assert b.try_acquire(now)
        b.on_success(duration_s, now)


class BreakerContract:
    """Behaviour every window kind must give the breaker."""

    def make(self, **overrides: object) -> CircuitBreaker:
        raise NotImplementedError

    def test_defaults_are_resilience4j_s(self) -> None:
        config = BreakerConfig()
        assert (config.failure_rate_threshold_pct, config.slow_call_rate_threshold_pct,
                config.slow_call_duration_s, config.window_calls, config.minimum_calls,
                config.open_s, config.half_open_probes) == (50.0, 100.0, 60.0, 100, 100,
                                                            60.0, 10)

    def test_no_verdict_before_minimum_calls(self) -> None:
        b = self.make()
        fail(b, 0.0, 3)
        assert state_of(b) is State.CLOSED

    def test_trips_when_failure_rate_reaches_threshold(self) -> None:
        b = self.make()
        succeed(b, 0.0, 2)
        fail(b, 0.0, 2)
        assert state_of(b) is State.OPEN

    def test_stays_closed_below_threshold(self) -> None:
        b = self.make(failure_rate_threshold_pct=75.0)
        succeed(b, 0.0, 2)
        fail(b, 0.0, 2)
        assert state_of(b) is State.CLOSED

    def test_success_reaching_minimum_can_trip(self) -> None:
        b = self.make()
        fail(b, 0.0, 3)
        succeed(b, 0.0)
        assert state_of(b) is State.OPEN

    def test_slow_successes_trip_on_slow_rate(self) -> None:
        b = self.make(slow_call_rate_threshold_pct=50.0)
        succeed(b, 0.0, 2)
        succeed(b, 0.0, 2, duration_s=SLOW_S)
        assert state_of(b) is State.OPEN
        assert b.statistics().state is State.OPEN

    def test_open_refuses_until_open_duration_passes(self) -> None:
        b = self.make()
        fail(b, 0.0, 4)
        assert not b.try_acquire(9.999)
        assert b.statistics().not_permitted_calls_total == 1
        assert b.next_deadline_s() == 10.0
        assert b.try_acquire(10.0)
        assert state_of(b) is State.HALF_OPEN

    def test_half_open_admits_only_the_configured_probes(self) -> None:
        b = self.make()
        fail(b, 0.0, 4)
        admitted = [b.try_acquire(10.0) for _ in range(5)]
        assert admitted == [True, True, False, False, False]
        assert b.statistics().probes_in_flight == 2

    def test_probes_passing_close_the_circuit(self) -> None:
        b = self.make()
        fail(b, 0.0, 4)
        assert b.try_acquire(10.0)
        assert b.try_acquire(10.0)
        b.on_success(FAST_S, 10.0)
        assert state_of(b) is State.HALF_OPEN
        b.on_success(FAST_S, 10.0)
        assert state_of(b) is State.CLOSED
        assert b.statistics().calls == 0

    def test_probes_failing_reopen_the_circuit(self) -> None:
        b = self.make()
        fail(b, 0.0, 4)
        assert b.try_acquire(10.0)
        assert b.try_acquire(10.0)
        b.on_success(FAST_S, 10.0)
        b.on_failure(FAST_S, 11.0)
        assert state_of(b) is State.OPEN
        assert b.next_deadline_s() == 21.0

    def test_released_probe_frees_its_slot(self) -> None:
        b = self.make()
        fail(b, 0.0, 4)
        assert b.try_acquire(10.0)
        assert b.try_acquire(10.0)
        b.release(10.0)
        assert b.try_acquire(10.0)
        assert not b.try_acquire(10.0)

    def test_poll_moves_open_to_half_open_without_a_call(self) -> None:
        b = self.make()
        fail(b, 0.0, 4)
        b.poll(5.0)
        assert state_of(b) is State.OPEN
        b.poll(10.0)
        assert state_of(b) is State.HALF_OPEN
        assert b.next_deadline_s() is None

    def test_events_report_each_transition_in_order(self) -> None:
        heard: list[StateChange] = []
        b = self.make()
        b.add_listener(heard.append)
        fail(b, 1.0, 4)
        assert b.try_acquire(11.0)
        b.reset(12.0)
        expected = [StateChange(1.0, State.CLOSED, State.OPEN, Trigger.TRIP),
                    StateChange(11.0, State.OPEN, State.HALF_OPEN, Trigger.OPEN_ELAPSED),
                    StateChange(12.0, State.HALF_OPEN, State.CLOSED, Trigger.RESET)]
        assert heard == expected
        assert b.drain_events() == expected
        assert b.drain_events() == []

    def test_late_outcome_while_open_is_ignored(self) -> None:
        b = self.make()
        assert b.try_acquire(0.0)  # a slow call starts while closed ...
        fail(b, 0.0, 4)            # ... the breaker trips meanwhile ...
        b.on_success(FAST_S, 1.0)  # ... and its late result changes nothing
        assert state_of(b) is State.OPEN

    def test_statistics_are_a_frozen_snapshot(self) -> None:
        b = self.make()
        succeed(b, 0.0, 1)
        fail(b, 0.0, 1)
        stats = b.statistics(0.0)
        assert (stats.calls, stats.failed_calls, stats.failure_rate_pct) == (2, 1, 50.0)
        with pytest.raises(AttributeError):
            stats.calls = 0  # type: ignore[misc]


class TestCountWindowBreaker(BreakerContract):
    def make(self, **overrides: object) -> CircuitBreaker:
        return CircuitBreaker(small(**overrides))

    def test_old_outcomes_leave_the_count_window(self) -> None:
        b = self.make(failure_rate_threshold_pct=75.0)
        fail(b, 0.0, 2)
        succeed(b, 0.0, 2)
        succeed(b, 0.0, 2)  # pushes both failures out
        assert b.statistics().failed_calls == 0
        fail(b, 0.0, 2)
        assert state_of(b) is State.CLOSED

    def test_minimum_is_capped_by_the_count_window(self) -> None:
        b = CircuitBreaker(small(minimum_calls=50))
        fail(b, 0.0, 4)
        assert state_of(b) is State.OPEN


class TestTimeWindowBreaker(BreakerContract):
    def make(self, **overrides: object) -> CircuitBreaker:
        values: dict[str, object] = {"window": "time", "window_s": 10.0, "window_buckets": 5}
        values.update(overrides)
        return CircuitBreaker(small(**values))

    def test_old_buckets_expire(self) -> None:
        b = self.make()
        fail(b, 0.0, 3)
        assert b.statistics(9.9).failed_calls == 3
        assert b.statistics(10.0).failed_calls == 0
        fail(b, 10.0)
        assert state_of(b) is State.CLOSED

    def test_expired_successes_can_make_a_verdict_due(self) -> None:
        """Old successes leave; the failures that remain reach the threshold."""
        b = self.make(failure_rate_threshold_pct=50.0, minimum_calls=3)
        succeed(b, 0.0, 3)
        fail(b, 5.0, 2)
        assert state_of(b) is State.CLOSED  # 2 of 5
        succeed(b, 10.5)                 # the 3 successes of t=0 expired: 2 of 3 failed
        assert state_of(b) is State.OPEN


def test_every_transition_in_the_table_is_documented() -> None:
    """The Markdown table and the class docstring are both rendered from TRANSITIONS."""
    doc = transitions_markdown()
    for (source, trigger), target in TRANSITIONS.items():
        row = f"| {source.value} | {trigger.value} | {target.value} |"
        assert row in doc
        assert row in (CircuitBreaker.__doc__ or "")
    assert doc.count("\n") == len(TRANSITIONS) + 1


@pytest.mark.parametrize(("state", "trigger"), [
    (s, t) for s in State for t in Trigger if (s, t) not in TRANSITIONS])
def test_illegal_transition_raises_and_leaves_state_unchanged(state: State,
                                                              trigger: Trigger) -> None:
    b = CircuitBreaker(small())
    if state is not State.CLOSED:
        fail(b, 0.0, 4)
    if state is State.HALF_OPEN:
        b.poll(10.0)
    assert state_of(b) is state
    before = b.statistics()
    with pytest.raises(IllegalTransition, match=trigger.value):
        b.transition(trigger, 20.0)
    assert b.statistics() == before


@pytest.mark.parametrize(("field_name", "value"), [
    ("failure_rate_threshold_pct", 0), ("failure_rate_threshold_pct", 100.5),
    ("failure_rate_threshold_pct", -1), ("failure_rate_threshold_pct", math.nan),
    ("slow_call_rate_threshold_pct", 0), ("slow_call_duration_s", 0),
    ("window_calls", 0), ("window_calls", -5), ("window_s", 0.0), ("window_s", -1.0),
    ("window_buckets", 0), ("minimum_calls", 0), ("open_s", -1.0),
    ("half_open_probes", 0), ("window", "sliding"),
])
def test_bad_configuration_is_refused_with_its_name(field_name: str, value: object) -> None:
    with pytest.raises(ResilienceConfigError, match=field_name if field_name != "window"
                       else "window must be"):
        BreakerConfig(**{field_name: value})  # type: ignore[arg-type]


# -- stateful test against a reference model ---------------------------------------------

@dataclass
class ModelBreaker:
    """The breaker's rules written as plainly as possible: keep every outcome, recompute."""

    config: BreakerConfig
    state: State = State.CLOSED
    outcomes: list[tuple[float, bool, bool]] = field(default_factory=list)
    open_until: float = 0.0
    admitted: int = 0
    probe_results: list[tuple[bool, bool]] = field(default_factory=list)

    def window(self, now: float) -> list[tuple[float, bool, bool]]:
        c = self.config
        if c.window == "count":
            return self.outcomes[-c.window_calls:]
        bucket_s = c.window_s / c.window_buckets
        epoch = math.floor(now / bucket_s)
        return [o for o in self.outcomes
                if math.floor(o[0] / bucket_s) > epoch - c.window_buckets]

    def over(self, results: list[tuple[bool, bool]]) -> bool:
        n = len(results)
        failed = sum(1 for f, _ in results if f)
        slow = sum(1 for _, s in results if s)
        c = self.config
        return (failed * 100.0 >= c.failure_rate_threshold_pct * n
                or slow * 100.0 >= c.slow_call_rate_threshold_pct * n)

    def move(self, target: State, now: float) -> None:
        if target is State.OPEN:
            self.open_until = now + self.config.open_s
        if target is State.HALF_OPEN:
            self.admitted = 0
            self.probe_results = []
        if target is State.CLOSED or self.state is State.CLOSED:
            self.outcomes = []
        self.state = target

    def acquire(self, now: float) -> bool:
        if self.state is State.OPEN:
            if now < self.open_until:
                return False
            self.move(State.HALF_OPEN, now)
        if self.state is State.HALF_OPEN:
            if self.admitted < self.config.half_open_probes:
                self.admitted += 1
                return True
            return False
        return True

    def record(self, failed: bool, slow: bool, now: float) -> None:
        if self.state is State.CLOSED:
            self.outcomes.append((now, failed, slow))
            window = self.window(now)
            if len(window) >= self.config.effective_minimum_calls and self.over(
                    [(f, s) for _, f, s in window]):
                self.move(State.OPEN, now)
        elif self.state is State.HALF_OPEN and len(self.probe_results) < self.admitted:
            self.probe_results.append((failed, slow))
            if len(self.probe_results) == self.config.half_open_probes:
                self.move(State.OPEN if self.over(self.probe_results) else State.CLOSED, now)


class BreakerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.permits = 0
        self.real: CircuitBreaker | None = None
        self.model: ModelBreaker | None = None

    @precondition(lambda self: self.real is None)
    @rule(window=st.sampled_from(["count", "time"]), calls=st.integers(1, 6),
          minimum=st.integers(1, 6), probes=st.integers(1, 3),
          failure_pct=st.sampled_from([25.0, 50.0, 100.0]),
          slow_pct=st.sampled_from([50.0, 100.0]))
    def configure(self, *, window: str, calls: int, minimum: int, probes: int,
                  failure_pct: float, slow_pct: float) -> None:
        config = BreakerConfig(
            window=window,  # type: ignore[arg-type]
            window_calls=calls, window_s=4.0, window_buckets=4, minimum_calls=minimum,
            open_s=3.0, half_open_probes=probes, failure_rate_threshold_pct=failure_pct,
            slow_call_rate_threshold_pct=slow_pct, slow_call_duration_s=1.0)
        self.real = CircuitBreaker(config)
        self.model = ModelBreaker(config)

    @precondition(lambda self: self.real is not None)
    @rule(dt=st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.5, 3.0, 7.0]))
    def advance(self, dt: float) -> None:
        self.now += dt

    @precondition(lambda self: self.real is not None)
    @rule()
    def acquire(self) -> None:
        assert self.real is not None
        assert self.model is not None
        granted = self.real.try_acquire(self.now)
        assert granted == self.model.acquire(self.now)
        self.permits += granted

    @precondition(lambda self: self.real is not None and self.permits > 0)
    @rule(failed=st.booleans(), slow=st.booleans())
    def complete(self, failed: bool, slow: bool) -> None:
        assert self.real is not None
        assert self.model is not None
        self.permits -= 1
        duration = SLOW_S if slow else FAST_S
        if failed:
            self.real.on_failure(duration, self.now)
        else:
            self.real.on_success(duration, self.now)
        self.model.record(failed, slow, self.now)

    @precondition(lambda self: self.real is not None and self.permits > 0)
    @rule()
    def release(self) -> None:
        assert self.real is not None
        assert self.model is not None
        self.permits -= 1
        self.real.release(self.now)
        if self.model.state is State.HALF_OPEN and self.model.admitted > len(
                self.model.probe_results):
            self.model.admitted -= 1

    @precondition(lambda self: self.real is not None)
    @rule(trigger=st.sampled_from([Trigger.RESET, Trigger.FORCE_OPEN]))
    def operator(self, trigger: Trigger) -> None:
        assert self.real is not None
        assert self.model is not None
        self.real.transition(trigger, self.now)
        self.model.move(TRANSITIONS[(self.model.state, trigger)], self.now)

    @invariant()
    def same_state(self) -> None:
        if self.real is not None and self.model is not None:
            assert self.real.state is self.model.state
            assert self.real.closed == (self.model.state is State.CLOSED)

    @invariant()
    def probes_in_flight_never_exceed_the_limit(self) -> None:
        if self.real is not None:
            stats = self.real.statistics()
            assert 0 <= stats.probes_in_flight <= self.real.config.half_open_probes

    @invariant()
    def window_counts_match_the_model(self) -> None:
        if self.real is not None and self.model is not None \
                and self.model.state is State.CLOSED:
            stats = self.real.statistics(self.now)
            window = self.model.window(self.now)
            assert (stats.calls, stats.failed_calls, stats.slow_calls) == (
                len(window), sum(1 for o in window if o[1]), sum(1 for o in window if o[2]))


BreakerMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=30,
                                            deadline=None)
TestBreakerAgainstModel = BreakerMachine.TestCase
