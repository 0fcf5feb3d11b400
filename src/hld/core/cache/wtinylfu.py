"""Window TinyLFU (W-TinyLFU) cache implementation, with an adaptive window.

Three regions share the capacity: a small *window* LRU that every new entry enters, and a
*main* region run as a segmented LRU (a *probation* segment and a *protected* segment
holding ``PROTECTED_SHARE`` of main). When the window overflows, its least recent entry
becomes a *candidate* for main; if main is full, the candidate competes with main's
*victim* (the least recent probation entry, or protected if probation is empty) and wins
only if the frequency sketch (``hld.core.cache.sketch``) has seen it more often lately.
So one-off scans pass through the window without displacing the frequent set, while the
window still gives new and bursty keys a chance to prove themselves.

No single window size suits every workload: a recency-heavy trace wants a large window
(plain LRU is the limit), a frequency-heavy one a tiny window. The window is therefore
resized as the workload runs. Two ways are built in (``adapt_by``):

- ``"ghosts"`` (the default): two small ghost lists remember the keys of recently
  rejected candidates and of recently evicted main victims (``GHOST_SHARE`` of the
  capacity each, keys only). A miss on a rejected candidate's ghost means a larger window
  would have kept it, so the window grows by ``GHOST_STEP``; a miss on a victim's ghost
  means a larger main region would have, so the window shrinks. This is ARC's feedback
  applied to W-TinyLFU's split; it measures the marginal value of each region directly,
  and so stays steady on bursty traces.
- ``"climbing"``: Caffeine's hill climber. Every ``10 x capacity`` requests compare the
  sample's hit ratio with the previous one; keep moving the window the same way while it
  improves, reverse when it worsens, decay the step, restart with big steps on a jump.
  On the bursty cache2k traces (orm-busy, orm-night) the hit ratio swings between
  samples by more than any window change explains, and the climber random-walks. Ghost
  feedback was ahead of it on all six rows we compared (web07 and web12 at 300, web07 at
  1200, 500k-request prefixes of orm-night at 625 and orm-busy at 625 and 2500), by up
  to 3.6 points; ``hld bench cache`` measures the default against theine.

Speed: each region is an ``OrderedDict`` (C-speed move-to-end and pop-oldest) and
``_where`` maps a key to its entry, a list ``[value, slots, hits, region]``, so a hit
costs one lookup to find the entry and its region. ``slots``, the key's places in the
sketch, are computed once when it enters, and a hit only bumps the entry's own ``hits``
tally instead of four sketch counters. Tallies reach the sketch when the entry is
evicted and just before each aging; admission adds the tally to the sketch's estimate,
so decisions see every use (and a resident key's uses never inflate the colliding
counters of other keys). Aging, admission and adaptation all run on the miss path, so a
hit costs little more than an LRU hit.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from hld.core.cache.base import Cache, EvictionListener, K, V, Weigher
from hld.core.cache.sketch import FrequencySketch

# Tunables (shares of capacity unless stated), with their reasons.
WINDOW_SHARE = 0.01            # start like Caffeine: 1 % window, then the climber adapts it
PROTECTED_SHARE = 0.80         # of main: protected keeps proven entries, probation the rest
ADAPTATIONS = ("ghosts", "climbing")
ADAPT_BY = "ghosts"            # how the window adapts (see the module docstring)
GHOST_SHARE = 0.1              # each ghost list remembers this share of capacity in keys
GHOST_MIN = 16
GHOST_STEP = 1                 # window change per ghost hit (entries)
CLIMB_SAMPLE_PER_ENTRY = 10    # requests per climber sample per entry (Caffeine: 10) ...
CLIMB_SAMPLE_MIN = 1_000       # ... but enough requests for a stable hit-ratio reading
CLIMB_STEP_SHARE = 0.0625      # first step: 6.25 % of capacity (Caffeine's choice)
CLIMB_STEP_DECAY = 0.98        # steps shrink as the window settles
CLIMB_RESTART_CHANGE = 0.05    # a hit-ratio jump this large means a new workload: big steps

# An entry: [value, slots (sketch positions), hits not yet added to the sketch, the region
# holding it]. A list, not a class, because building one is a single bytecode.
_Entry = list[Any]


class WTinyLFUCache(Cache[K, V]):
    """Window TinyLFU cache implementation with an adaptive window."""

    name = "wtinylfu"

    def __init__(self, capacity: int, *, weigher: Weigher[K, V] | None = None,
                 on_evict: EvictionListener[K, V] | None = None,
                 window_share: float = WINDOW_SHARE, adaptive: bool = True,
                 adapt_by: str = ADAPT_BY, doorkeeper: bool = True,
                 sample_size: int | None = None) -> None:
        super().__init__(capacity, weigher=weigher, on_evict=on_evict)
        if not 0.0 <= window_share <= 1.0:
            raise ValueError(f"window_share must be within [0, 1], got {window_share}")
        self._window: OrderedDict[K, _Entry] = OrderedDict()
        self._probation: OrderedDict[K, _Entry] = OrderedDict()
        self._protected: OrderedDict[K, _Entry] = OrderedDict()
        self._where: dict[K, _Entry] = {}
        self._weights: dict[K, int] | None = {} if weigher is not None else None
        self._sketch = FrequencySketch(capacity, sample_size=sample_size,
                                       doorkeeper=doorkeeper, before_age=self._flush_tallies)
        self._hits_reported = 0        # hits already reported to the sketch as uses
        # Bound methods cached: they serve every miss.
        self._slots = self._sketch.slots
        self._record = self._sketch.increment_slots
        self._more_frequent = self._sketch.more_frequent
        self._window_weight = 0
        self._probation_weight = 0
        self._protected_weight = 0
        self._window_max = 0
        self._main_max = 0
        self._protected_max = 0
        self._set_window_max(max(1, round(capacity * window_share)))
        if adapt_by not in ADAPTATIONS:
            raise ValueError(f"adapt_by must be one of {', '.join(ADAPTATIONS)}, got "
                             f"{adapt_by!r}")
        # Ghost state: recently rejected candidates and recently evicted main victims.
        self._ghosts = adaptive and adapt_by == "ghosts"
        self._ghost_window: OrderedDict[K, None] = OrderedDict()
        self._ghost_main: OrderedDict[K, None] = OrderedDict()
        self._ghost_max = max(GHOST_MIN, int(GHOST_SHARE * capacity))
        # Hill climber state.
        self._adaptive = adaptive and adapt_by == "climbing"
        self._climb_sample = max(CLIMB_SAMPLE_MIN, CLIMB_SAMPLE_PER_ENTRY * capacity)
        self._climb_at = self._climb_sample
        self._climb_step = CLIMB_STEP_SHARE * capacity
        self._climb_hits = 0
        self._climb_requests = 0
        self._climb_previous_ratio = 0.0
        self._check_at = 0                # requests count at which _periodic is next due

    # -- the interface -------------------------------------------------------------

    def get(self, key: K, default: V | None = None) -> V | None:
        entry = self._where.get(key)
        if entry is None:
            self._misses += 1
            return default
        self._hits += 1
        region = entry[3]
        if region is self._probation:
            del region[key]
            self._protected[key] = entry
            entry[3] = self._protected
            weight = 1 if self._weights is None else self._weights[key]
            self._probation_weight -= weight
            self._protected_weight += weight
            if self._protected_weight > self._protected_max:
                self._demote_protected()
        else:
            region.move_to_end(key)
        entry[2] += 1
        return entry[0]  # type: ignore[no-any-return]

    def peek(self, key: K, default: V | None = None) -> V | None:
        entry = self._where.get(key)
        return default if entry is None else entry[0]

    def put(self, key: K, value: V) -> None:
        if self._weights is not None:
            self._put_weighted(key, value)
            return
        where = self._where
        entry = where.get(key)
        if entry is not None:
            entry[0] = value
            entry[2] += 1
            entry[3].move_to_end(key)
            return
        if self._hits + self._misses >= self._check_at:
            self._periodic()
        if self._ghosts and (key in self._ghost_window or key in self._ghost_main):
            self._consult_ghosts(key)
        slots = self._slots(key)
        self._record(slots)
        window = self._window
        where[key] = window[key] = [value, slots, 0, window]
        self._weight += 1
        if len(window) <= self._window_max:
            self._window_weight += 1
            return
        # The window overflowed by exactly this entry, and its oldest entry tries main:
        # _evict_from_window and _admit unrolled for count capacity, the common case.
        candidate, candidate_entry = window.popitem(last=False)
        probation = self._probation
        if self._probation_weight + self._protected_weight < self._main_max:
            probation[candidate] = candidate_entry
            candidate_entry[3] = probation
            self._probation_weight += 1
            return
        victims = probation or self._protected
        leaving, leaving_entry = candidate, candidate_entry
        if victims:
            victim = next(iter(victims))
            victim_entry = victims[victim]
            if self._more_frequent(candidate_entry[1], candidate_entry[2],
                                   victim_entry[1], victim_entry[2]):
                del victims[victim]
                probation[candidate] = candidate_entry
                candidate_entry[3] = probation
                if victims is not probation:
                    self._protected_weight -= 1
                    self._probation_weight += 1
                leaving, leaving_entry = victim, victim_entry
        if self._ghosts:  # _remember, inlined
            ghost = self._ghost_window if leaving is candidate else self._ghost_main
            ghost[leaving] = None
            if len(ghost) > self._ghost_max:
                ghost.popitem(last=False)
        del where[leaving]
        self._weight -= 1
        # _retire and Cache._evicted, inlined.
        if leaving_entry[2]:
            self._sketch.add_counts(leaving_entry[1], leaving_entry[2])
        self._evictions += 1
        if self._on_evict is not None:
            self._on_evict(leaving, leaving_entry[0])

    def delete(self, key: K) -> bool:
        entry = self._where.pop(key, None)
        if entry is None:
            return False
        region = entry[3]
        del region[key]
        weight = 1 if self._weights is None else self._weights.pop(key)
        self._add_region_weight(region, -weight)
        self._weight -= weight
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._where

    def __len__(self) -> int:
        return len(self._where)

    def __iter__(self) -> Iterator[K]:
        return iter([*self._window, *self._probation, *self._protected])

    def clear(self) -> None:
        super().clear()
        self._sketch.clear()

    # -- introspection (experiments and tests) ---------------------------------------

    @property
    def window_capacity(self) -> int:
        """The window's current share of the capacity, in weight units."""
        return self._window_max

    @property
    def sketch(self) -> FrequencySketch:
        return self._sketch

    def regions(self) -> dict[str, list[K]]:
        """Keys per region, least recent first."""
        return {"window": list(self._window), "probation": list(self._probation),
                "protected": list(self._protected)}

    # -- internals -------------------------------------------------------------------

    def _remember(self, ghost: OrderedDict[K, None], key: K) -> None:
        ghost[key] = None
        if len(ghost) > self._ghost_max:
            ghost.popitem(last=False)

    def _consult_ghosts(self, key: K) -> None:
        """A miss on a ghost: had its region been larger, this would have been a hit."""
        if key in self._ghost_window:
            del self._ghost_window[key]
            self._resize_window(GHOST_STEP)
        elif key in self._ghost_main:
            del self._ghost_main[key]
            self._resize_window(-GHOST_STEP)

    def _periodic(self) -> None:
        """Work due every so many requests: report hits to the sketch, climb.

        Each request is at most one use, so the sketch cannot be due to age before
        ``uses_before_aging`` more requests; that, and the climber's next sample, set
        the next check and keep this off the per-request path.
        """
        requests = self._hits + self._misses
        count = self._hits - self._hits_reported
        if count:
            self._hits_reported = self._hits
            self._sketch.add_uses(count)
        if self._adaptive and requests >= self._climb_at:
            self._climb()
        self._check_at = requests + self._sketch.uses_before_aging
        if self._adaptive:
            self._check_at = min(self._check_at, self._climb_at)

    def _flush_tallies(self) -> None:
        """Before the sketch ages: move every entry's hit tally into its counters."""
        add_counts = self._sketch.add_counts
        for region in (self._window, self._probation, self._protected):
            for entry in region.values():
                if entry[2]:
                    add_counts(entry[1], entry[2])
                    entry[2] = 0

    def _retire(self, key: K, entry: _Entry) -> None:
        """An entry leaves: its tally joins the sketch (its history outlives it)."""
        if entry[2]:
            self._sketch.add_counts(entry[1], entry[2])
        self._evicted(key, entry[0])

    def _put_weighted(self, key: K, value: V) -> None:
        weights = self._weights
        if weights is None:  # pragma: no cover - put() only comes here with a weigher
            raise RuntimeError("weighted put on a cache without a weigher")
        weight = self._weigh(key, value)
        entry = self._where.get(key)
        if entry is not None:
            region = entry[3]
            entry[0] = value
            entry[2] += 1
            region.move_to_end(key)
            delta = weight - weights[key]
            weights[key] = weight
            self._add_region_weight(region, delta)
            self._weight += delta
            if delta > 0:
                self._evict_from_window()
                while self._weight > self._capacity:
                    self._evict_one_from_main()
            return
        if self._hits + self._misses >= self._check_at:
            self._periodic()
        if self._ghosts:
            self._consult_ghosts(key)
        slots = self._slots(key)
        self._record(slots)
        self._where[key] = self._window[key] = [value, slots, 0, self._window]
        weights[key] = weight
        self._window_weight += weight
        self._weight += weight
        if self._window_weight > self._window_max:
            self._evict_from_window()

    def _weight_of(self, key: K) -> int:
        return 1 if self._weights is None else self._weights[key]

    def _add_region_weight(self, region: OrderedDict[K, _Entry], weight: int) -> None:
        if region is self._window:
            self._window_weight += weight
        elif region is self._probation:
            self._probation_weight += weight
        else:
            self._protected_weight += weight

    def _set_window_max(self, window_max: int) -> None:
        upper = self._capacity - 1 if self._capacity > 1 else 1
        self._window_max = min(max(1, window_max), upper)
        self._main_max = self._capacity - self._window_max
        self._protected_max = int(self._main_max * PROTECTED_SHARE)

    def _evict_from_window(self) -> None:
        """Move window overflow to main, each entry through the TinyLFU admission test."""
        window = self._window
        while self._window_weight > self._window_max and window:
            key, entry = window.popitem(last=False)
            weight = self._weight_of(key)
            self._window_weight -= weight
            self._admit(key, entry, weight)

    def _admit(self, key: K, entry: _Entry, weight: int) -> None:
        """Place a candidate in probation if it fits or out-frequents main's victims."""
        while self._probation_weight + self._protected_weight + weight > self._main_max:
            victims = self._probation or self._protected
            if not victims:
                self._drop(key, entry, weight)
                return
            victim = next(iter(victims))
            victim_entry = victims[victim]
            if not self._more_frequent(entry[1], entry[2], victim_entry[1], victim_entry[2]):
                if self._ghosts:
                    self._remember(self._ghost_window, key)
                self._drop(key, entry, weight)
                return
            if self._ghosts:
                self._remember(self._ghost_main, victim)
            self._evict_one_from_main()
        self._probation[key] = entry
        entry[3] = self._probation
        self._probation_weight += weight

    def _drop(self, key: K, entry: _Entry, weight: int) -> None:
        del self._where[key]
        if self._weights is not None:
            del self._weights[key]
        self._weight -= weight
        self._retire(key, entry)

    def _evict_one_from_main(self) -> None:
        region = self._probation or self._protected or self._window
        key, entry = region.popitem(last=False)
        weight = self._weight_of(key)
        self._add_region_weight(region, -weight)
        self._drop(key, entry, weight)

    def _demote_protected(self) -> None:
        protected = self._protected
        probation = self._probation
        while self._protected_weight > self._protected_max and protected:
            key, entry = protected.popitem(last=False)
            probation[key] = entry
            entry[3] = probation
            weight = self._weight_of(key)
            self._protected_weight -= weight
            self._probation_weight += weight

    def _climb(self) -> None:
        """One hill-climbing step: resize the window by the sign of the hit-ratio change."""
        requests = self._hits + self._misses
        sample_requests = requests - self._climb_requests
        ratio = (self._hits - self._climb_hits) / sample_requests if sample_requests else 0.0
        change = ratio - self._climb_previous_ratio
        amount = self._climb_step if change >= 0 else -self._climb_step
        if abs(change) >= CLIMB_RESTART_CHANGE:
            self._climb_step = CLIMB_STEP_SHARE * self._capacity * (1 if amount >= 0 else -1)
        else:
            self._climb_step = CLIMB_STEP_DECAY * amount
        self._climb_previous_ratio = ratio
        self._climb_hits = self._hits
        self._climb_requests = requests
        self._climb_at = requests + self._climb_sample
        self._resize_window(int(amount))

    def _resize_window(self, amount: int) -> None:
        before = self._window_max
        self._set_window_max(before + amount)
        if self._window_max == before:
            return
        window = self._window
        if self._window_max > before:
            # Main shrank: its least recent entries join the window's old end.
            while self._probation_weight + self._protected_weight > self._main_max:
                region = self._probation or self._protected
                key, entry = region.popitem(last=False)
                weight = self._weight_of(key)
                self._add_region_weight(region, -weight)
                window[key] = entry
                window.move_to_end(key, last=False)
                entry[3] = window
                self._window_weight += weight
        else:
            # The window shrank: its least recent entries move to probation without a
            # contest, since main grew by the same amount.
            while self._window_weight > self._window_max and len(window) > 1:
                key, entry = window.popitem(last=False)
                weight = self._weight_of(key)
                self._window_weight -= weight
                self._probation[key] = entry
                entry[3] = self._probation
                self._probation_weight += weight
        # Weighted entries move whole, so a region can end up over its new share.
        while (self._probation_weight + self._protected_weight > self._main_max
               and (self._probation or self._protected)):
            self._evict_one_from_main()
        if self._window_weight > self._window_max:
            self._evict_from_window()
        if self._protected_weight > self._protected_max:
            self._demote_protected()
