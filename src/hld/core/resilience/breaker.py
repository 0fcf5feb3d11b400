"""Circuit breaker: closed, open and half-open, with the transitions as a table.

Strategy (after resilience4j, whose defaults ``BreakerConfig`` mirrors): while CLOSED every
call's outcome goes into a sliding window (the last N calls, or the last T seconds in
buckets). Once the window holds at least ``minimum_calls`` calls and the failure rate or
the slow-call rate reaches its threshold, the breaker TRIPs to OPEN and refuses calls for
``open_s`` seconds. The first call after that moves it to HALF_OPEN, which admits at most
``half_open_probes`` probe calls in total (so never more in flight); when all of them have
reported, their own failure and slow rates decide CLOSED or OPEN again.

The legal transitions are the data in ``TRANSITIONS``; every state change, automatic or
manual, goes through ``transition()``, which raises ``IllegalTransition`` and leaves the
state unchanged for a pair the table lacks. ``transitions_markdown()`` renders the same
table for the docs, so the documentation cannot drift from the code.

Sans-IO: ``now`` (seconds, monotonic) and call durations come from the caller; state
changes are reported to listeners and kept in a bounded event list the runtime drains.
The success path while CLOSED is a handful of attribute reads and integer updates with no
allocation, because it runs on every protected call.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from hld.core.resilience._check import check_int, check_non_negative, check_pct, check_positive
from hld.core.resilience.errors import IllegalTransition, ResilienceConfigError
from hld.core.resilience.limits import (
    BREAKER_EVENTS_MAX,
    HALF_OPEN_PROBES_MAX,
    WINDOW_BUCKETS_MAX,
    WINDOW_CALLS_MAX,
)
from hld.core.resilience.windows import FAILED, SLOW, CountWindow, TimeWindow


class State(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Trigger(enum.Enum):
    TRIP = "trip"                    # a threshold was reached while closed
    OPEN_ELAPSED = "open_elapsed"    # open_s passed; the next call is a probe
    PROBES_PASSED = "probes_passed"  # the probes' rates stayed under the thresholds
    PROBES_FAILED = "probes_failed"  # the probes' rates reached a threshold
    RESET = "reset"                  # an operator closes the circuit, clearing the window
    FORCE_OPEN = "force_open"        # an operator opens it (restarting the open timer)


CLOSED, OPEN, HALF_OPEN = State.CLOSED, State.OPEN, State.HALF_OPEN

# (state, trigger) -> next state. Anything absent is illegal.
TRANSITIONS: Mapping[tuple[State, Trigger], State] = MappingProxyType({
    (CLOSED, Trigger.TRIP): OPEN,
    (CLOSED, Trigger.RESET): CLOSED,
    (CLOSED, Trigger.FORCE_OPEN): OPEN,
    (OPEN, Trigger.OPEN_ELAPSED): HALF_OPEN,
    (OPEN, Trigger.RESET): CLOSED,
    (OPEN, Trigger.FORCE_OPEN): OPEN,
    (HALF_OPEN, Trigger.PROBES_PASSED): CLOSED,
    (HALF_OPEN, Trigger.PROBES_FAILED): OPEN,
    (HALF_OPEN, Trigger.RESET): CLOSED,
    (HALF_OPEN, Trigger.FORCE_OPEN): OPEN,
})


def transitions_markdown() -> str:
    """The transition table as a Markdown table (the docs are generated from this)."""
    lines = ["| from | trigger | to |", "|---|---|---|"]
    lines.extend(f"| {src.value} | {trig.value} | {dst.value} |"
                 for (src, trig), dst in TRANSITIONS.items())
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """Tunables; the defaults are resilience4j's."""

    failure_rate_threshold_pct: float = 50.0
    slow_call_rate_threshold_pct: float = 100.0
    slow_call_duration_s: float = 60.0
    window: Literal["count", "time"] = "count"
    window_calls: int = 100          # count window: the last N calls
    window_s: float = 60.0           # time window: the last T seconds ...
    window_buckets: int = 10         # ... in this many buckets
    minimum_calls: int = 100         # no verdict before this many calls in the window
    open_s: float = 60.0
    half_open_probes: int = 10

    def __post_init__(self) -> None:
        check_pct("failure_rate_threshold_pct", self.failure_rate_threshold_pct)
        check_pct("slow_call_rate_threshold_pct", self.slow_call_rate_threshold_pct)
        check_positive("slow_call_duration_s", self.slow_call_duration_s)
        if self.window not in ("count", "time"):
            raise ResilienceConfigError(f"window must be 'count' or 'time', got {self.window!r}")
        check_int("window_calls", self.window_calls, minimum=1, maximum=WINDOW_CALLS_MAX)
        check_positive("window_s", self.window_s)
        check_int("window_buckets", self.window_buckets, minimum=1, maximum=WINDOW_BUCKETS_MAX)
        check_int("minimum_calls", self.minimum_calls, minimum=1, maximum=WINDOW_CALLS_MAX)
        check_non_negative("open_s", self.open_s)
        check_int("half_open_probes", self.half_open_probes, minimum=1,
                  maximum=HALF_OPEN_PROBES_MAX)

    @property
    def effective_minimum_calls(self) -> int:
        """A count window can never hold more than its size, so the minimum is capped by it."""
        if self.window == "count":
            return min(self.minimum_calls, self.window_calls)
        return self.minimum_calls


@dataclass(frozen=True, slots=True)
class StateChange:
    """One transition, as reported to listeners and kept in the event list."""

    at_s: float
    from_state: State
    to_state: State
    trigger: Trigger


@dataclass(frozen=True, slots=True)
class BreakerStatistics:
    """A snapshot of a breaker's state and counters."""

    state: State
    calls: int                 # in the current window (or among probes while half-open)
    failed_calls: int
    slow_calls: int
    failure_rate_pct: float    # 0.0 while the window is empty
    slow_call_rate_pct: float
    successful_calls_total: int
    failed_calls_total: int
    not_permitted_calls_total: int
    probes_in_flight: int
    transitions_total: int
    events_dropped: int
    open_until_s: float | None  # when an OPEN breaker admits its first probe


Listener = Callable[[StateChange], None]


def _rate_pct(part: int, whole: int) -> float:
    return part * 100.0 / whole if whole else 0.0


class CircuitBreaker:
    """Closed / open / half-open circuit breaker over a count or time window.

    Listeners run synchronously after the state has changed; one that raises skips the
    rest and its exception reaches the caller of the method that caused the transition.
    """

    def __init__(self, config: BreakerConfig | None = None, *,
                 listeners: tuple[Listener, ...] = ()) -> None:
        self.config = config = config if config is not None else BreakerConfig()
        self._window: CountWindow | TimeWindow = (
            CountWindow(config.window_calls, config.effective_minimum_calls)
            if config.window == "count"
            else TimeWindow(config.window_s, config.window_buckets, config.effective_minimum_calls))
        self._failure_pct = config.failure_rate_threshold_pct
        self._slow_pct = config.slow_call_rate_threshold_pct
        self._slow_s = config.slow_call_duration_s
        self._min_calls = config.effective_minimum_calls
        self._probes = config.half_open_probes
        self._state = CLOSED
        # Mirrors ``state is CLOSED`` as a plain attribute, so a shell's hot path can skip
        # try_acquire with one attribute read (try_acquire always admits while closed).
        self.closed = True
        self._open_until_s = 0.0
        # Half-open bookkeeping: admitted >= completed always; in flight = the difference.
        self._probes_admitted = 0
        self._probes_completed = 0
        self._probes_failed = 0
        self._probes_slow = 0
        self._successes_total = 0
        self._failures_total = 0
        self._not_permitted_total = 0
        self._transitions_total = 0
        self._events: deque[StateChange] = deque(maxlen=BREAKER_EVENTS_MAX)
        self._events_dropped = 0
        self._listeners: list[Listener] = list(listeners)

    # -- the call protocol ----------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    def try_acquire(self, now: float) -> bool:
        """May a call start now? A True must be followed by exactly one of
        ``on_success``, ``on_failure`` or ``release``."""
        if self._state is CLOSED:
            return True
        if self._state is OPEN:
            if now < self._open_until_s:
                self._not_permitted_total += 1
                return False
            self.transition(Trigger.OPEN_ELAPSED, now)
        if self._probes_admitted < self._probes:
            self._probes_admitted += 1
            return True
        self._not_permitted_total += 1
        return False

    def on_success(self, duration_s: float, now: float) -> None:
        """A permitted call returned normally after ``duration_s``."""
        self._successes_total += 1
        if self._state is CLOSED:
            if duration_s < self._slow_s:
                # A fast success cannot raise either rate, so a verdict is due only when
                # the window says so: it just reached the minimum number of calls, or (time
                # windows) old buckets just expired and took their successes with them.
                if self._window.add_ok(now):
                    self._evaluate_closed(now)
            else:
                self._window.add(SLOW, now)
                self._evaluate_closed(now)
        elif self._state is HALF_OPEN:
            self._probe_done(0 if duration_s < self._slow_s else SLOW, now)
        # An OPEN breaker ignores late outcomes of calls admitted before it opened.

    def on_failure(self, duration_s: float, now: float) -> None:
        """A permitted call failed (an error the breaker is configured to count)."""
        self._failures_total += 1
        code = FAILED if duration_s < self._slow_s else FAILED | SLOW
        if self._state is CLOSED:
            self._window.add(code, now)
            self._evaluate_closed(now)
        elif self._state is HALF_OPEN:
            self._probe_done(code, now)

    def release(self, now: float) -> None:
        """A permitted call ended without a verdict (cancelled, or an ignored error):
        its probe slot, if it held one, is handed back."""
        if self._state is HALF_OPEN and self._probes_admitted > self._probes_completed:
            self._probes_admitted -= 1

    # -- timers -----------------------------------------------------------------------

    def next_deadline_s(self) -> float | None:
        """When ``poll`` next has something to do (the end of the open period), if ever."""
        return self._open_until_s if self._state is OPEN else None

    def poll(self, now: float) -> None:
        """Apply time-driven transitions without a call (OPEN -> HALF_OPEN when due)."""
        if self._state is OPEN and now >= self._open_until_s:
            self.transition(Trigger.OPEN_ELAPSED, now)

    # -- transitions ----------------------------------------------------------------

    def transition(self, trigger: Trigger, now: float) -> State:
        """Apply ``trigger``; raises ``IllegalTransition`` (state unchanged) if not allowed."""
        source = self._state
        target = TRANSITIONS.get((source, trigger))
        if target is None:
            raise IllegalTransition(
                f"circuit breaker cannot take {trigger.value!r} while {source.value}; allowed "
                f"here: {', '.join(t.value for (s, t) in TRANSITIONS if s is source)}")
        if target is OPEN:
            self._open_until_s = now + self.config.open_s
        if target is HALF_OPEN:
            self._probes_admitted = self._probes_completed = 0
            self._probes_failed = self._probes_slow = 0
        if target is CLOSED or source is CLOSED:
            self._window.clear()
        self._state = target
        self.closed = target is CLOSED
        self._transitions_total += 1
        event = StateChange(now, source, target, trigger)
        if len(self._events) == self._events.maxlen:
            self._events_dropped += 1
        self._events.append(event)
        for listener in self._listeners:
            listener(event)
        return target

    def reset(self, now: float) -> None:
        """Operator action: close the circuit and forget the window."""
        self.transition(Trigger.RESET, now)

    def force_open(self, now: float) -> None:
        """Operator action: open the circuit for ``open_s`` from now."""
        self.transition(Trigger.FORCE_OPEN, now)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def drain_events(self) -> list[StateChange]:
        """State changes since the last drain, oldest first (bounded; see events_dropped)."""
        events = list(self._events)
        self._events.clear()
        return events

    # -- internals --------------------------------------------------------------------

    def _evaluate_closed(self, now: float) -> None:
        window = self._window
        window.expire(now)
        calls = window.calls
        if calls < self._min_calls:
            return
        if (window.failed * 100.0 >= self._failure_pct * calls
                or window.slow * 100.0 >= self._slow_pct * calls):
            self.transition(Trigger.TRIP, now)

    def _probe_done(self, code: int, now: float) -> None:
        if self._probes_completed >= self._probes_admitted:
            return  # a call admitted before half-open: not one of our probes
        self._probes_completed += 1
        if code & FAILED:
            self._probes_failed += 1
        if code & SLOW:
            self._probes_slow += 1
        if self._probes_completed < self._probes:
            return
        done = self._probes_completed
        if (self._probes_failed * 100.0 >= self._failure_pct * done
                or self._probes_slow * 100.0 >= self._slow_pct * done):
            self.transition(Trigger.PROBES_FAILED, now)
        else:
            self.transition(Trigger.PROBES_PASSED, now)

    def statistics(self, now: float | None = None) -> BreakerStatistics:
        """A frozen snapshot; pass ``now`` to expire old buckets of a time window first."""
        if self._state is HALF_OPEN:
            calls, failed, slow = self._probes_completed, self._probes_failed, self._probes_slow
        else:
            w = self._window
            w.expire(now)
            calls, failed, slow = w.calls, w.failed, w.slow
        return BreakerStatistics(
            state=self._state, calls=calls, failed_calls=failed, slow_calls=slow,
            failure_rate_pct=_rate_pct(failed, calls), slow_call_rate_pct=_rate_pct(slow, calls),
            successful_calls_total=self._successes_total,
            failed_calls_total=self._failures_total,
            not_permitted_calls_total=self._not_permitted_total,
            probes_in_flight=(self._probes_admitted - self._probes_completed
                              if self._state is HALF_OPEN else 0),
            transitions_total=self._transitions_total, events_dropped=self._events_dropped,
            open_until_s=self._open_until_s if self._state is OPEN else None)

    def __repr__(self) -> str:
        return f"CircuitBreaker(state={self._state.value}, window={self.config.window})"


# The documented transitions are rendered from the table itself (help(CircuitBreaker)).
_TABLE_DOC = "\n".join(f"    {line}" for line in transitions_markdown().splitlines())
_CLASS_DOC = (CircuitBreaker.__doc__ or "").rstrip()
CircuitBreaker.__doc__ = f"{_CLASS_DOC}\n\n    Transitions:\n\n{_TABLE_DOC}"
