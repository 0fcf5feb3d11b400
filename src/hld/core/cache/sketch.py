"""Frequency sketch for TinyLFU admission: count-min with 4-bit counters, aging, doorkeeper.

TinyLFU asks one question per admission: "has the candidate been used more often lately
than the entry it would displace?". A count-min sketch answers it in constant memory:
``DEPTH`` rows of counters, each key mapped to one counter per row, the estimate being the
row minimum, so an estimate never falls below the true count (hash collisions only add).

Strategy, chosen for pure-Python speed (this sits on every cache hit):

- One multiply of the key's ``hash`` by an odd constant mixes it; each row's index is a
  different bit field of that product, so a key costs one ``hash``, one multiply and a
  shift and mask per row. Big-integer arithmetic is still the dominant cost in CPython,
  so ``slots(key)`` returns the computed positions and callers that keep per-entry state
  (the W-TinyLFU cache) compute them once per entry and then use ``increment_slots``
  and ``frequency_slots``, which only index bytearrays.
- Counters saturate at 15, so they carry 4 bits of information as in the TinyLFU paper,
  but live one per byte of a ``bytearray`` per row: unpacking nibbles in Python costs more
  per operation than the memory saved. A saturating increment is one lookup in a
  precomputed 256-entry table (``INCREMENT``) instead of a compare and a branch.
- Aging: after ``sample_size`` recorded uses every counter is halved (one C-speed
  ``bytearray.translate``), so old popularity fades and the sketch follows a shifting
  workload (``SAMPLE_SIZE_PER_ENTRY`` uses per cache entry).
- Doorkeeper: a one-hash Bloom filter in front of the counters. A key's first use within
  a sample only sets its doorkeeper slot; later uses reach the counters, so one-hit
  wonders (the bulk of most traces) do not pollute them. It is cleared at each aging and
  counts as one use in estimates.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

DEPTH = 4                         # rows of the count-min sketch (unrolled in the code below)
COUNTER_MAX = 15                  # 4-bit saturating counters
WIDTH_PER_ENTRY = 4               # counters per row for each cache entry: few collisions
WIDTH_MIN = 64                    # tiny caches still get a useful table
# Aging period in uses per cache entry. TinyLFU and Caffeine use 10; 16 forgot less of
# what the cache2k traces reuse: ahead on all six trace rows we compared (web07, web12,
# orm prefixes; see wtinylfu.py).
SAMPLE_SIZE_PER_ENTRY = 16
DOORKEEPER_SLOTS_PER_USE = 2      # doorkeeper slots per use in a sample: few false positives

# Odd multipliers that spread int hashes (which are the int itself) over all bits; the
# 128-bit one serves tables whose four bit fields do not fit in 64 bits.
_MIX64 = 0x9E3779B97F4A7C15
_MIX128 = 0x9E3779B97F4A7C15F39CC0605CEDC835
# A key's place in the sketch: (doorkeeper slot, row 0 index, ..., row 3 index).
Slots = tuple[int, int, int, int, int]

# Saturating increment of a 4-bit counter as a table lookup: INCREMENT[n] == min(n + 1, 15).
INCREMENT = bytes(min(n + 1, COUNTER_MAX) for n in range(256))
_HALVE = bytes(n >> 1 for n in range(256))
_SATURATE = bytes(min(n, COUNTER_MAX) for n in range(2 * COUNTER_MAX + 1))
_ESTIMATE_MAX = COUNTER_MAX + 1   # a full counter plus the doorkeeper's bit


def _bits_for(n: int) -> int:
    """Bits of the smallest power of two >= n."""
    return max(0, n - 1).bit_length()


class FrequencySketch:
    """Approximate recent use counts of keys, for TinyLFU admission decisions."""

    __slots__ = ("_additions", "_before_age", "_door", "_door_mask", "_hash_mask", "_mask",
                 "_mix", "_rows", "_sample_size", "_shifts", "resets")

    def __init__(self, capacity: int, *, sample_size: int | None = None,
                 doorkeeper: bool = True,
                 before_age: Callable[[], object] | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        bits = max(_bits_for(WIDTH_MIN), _bits_for(capacity * WIDTH_PER_ENTRY))
        hash_bits = 64 if DEPTH * bits <= 64 else 128
        if DEPTH * bits > hash_bits:
            raise ValueError(f"capacity {capacity} is too large for the frequency sketch")
        self._mix = _MIX64 if hash_bits == 64 else _MIX128
        self._hash_mask = (1 << hash_bits) - 1
        self._mask = (1 << bits) - 1
        # Row r reads bit field r counted from the top, where the multiply mixes best.
        self._shifts = tuple(hash_bits - (r + 1) * bits for r in range(DEPTH))
        width = 1 << bits
        self._rows = (bytearray(width), bytearray(width), bytearray(width), bytearray(width))
        self._sample_size = (sample_size if sample_size is not None
                             else max(SAMPLE_SIZE_PER_ENTRY * capacity, WIDTH_MIN))
        if self._sample_size < 1:
            raise ValueError(f"sample_size must be at least 1, got {self._sample_size}")
        if doorkeeper:
            door_bits = _bits_for(self._sample_size * DOORKEEPER_SLOTS_PER_USE)
            self._door: bytearray | None = bytearray(1 << door_bits)
            self._door_mask = (1 << door_bits) - 1
        else:
            self._door = None
            self._door_mask = 0
        self._additions = 0
        self._before_age = before_age  # lets a caller flush its own tallies first
        self.resets = 0

    @property
    def sample_size(self) -> int:
        """Uses recorded between two agings."""
        return self._sample_size

    @property
    def width(self) -> int:
        """Counters per row."""
        return self._mask + 1

    def slots(self, key: Hashable) -> Slots:
        """Where ``key`` lives: its doorkeeper slot and one counter index per row.

        Computing them is the expensive part (big-integer arithmetic), so a cache computes
        them once per entry and passes them to ``increment_slots``/``frequency_slots``.
        """
        x = (hash(key) * self._mix) & self._hash_mask
        s0, s1, s2, s3 = self._shifts
        mask = self._mask
        return (x & self._door_mask, x >> s0, (x >> s1) & mask, (x >> s2) & mask,
                (x >> s3) & mask)

    def increment(self, key: Hashable) -> None:
        """Record one use of ``key``; ages the sketch every ``sample_size`` uses."""
        self.increment_slots(self.slots(key))

    def frequency(self, key: Hashable) -> int:
        """Estimated recent uses of ``key``: never below the truth since the last aging."""
        return self.frequency_slots(self.slots(key))

    def increment_slots(self, slots: Slots) -> None:
        """``increment`` for a key whose ``slots`` are known."""
        door = self._door
        if door is not None and not door[slots[0]]:
            door[slots[0]] = 1  # first sighting in this sample: only the doorkeeper learns
        else:
            t0, t1, t2, t3 = self._rows
            increment = INCREMENT
            _, i0, i1, i2, i3 = slots
            t0[i0] = increment[t0[i0]]
            t1[i1] = increment[t1[i1]]
            t2[i2] = increment[t2[i2]]
            t3[i3] = increment[t3[i3]]
        self._additions += 1
        if self._additions >= self._sample_size:
            self.age()

    def frequency_slots(self, slots: Slots) -> int:
        """``frequency`` for a key whose ``slots`` are known."""
        t0, t1, t2, t3 = self._rows
        d, i0, i1, i2, i3 = slots
        count = min(t0[i0], t1[i1], t2[i2], t3[i3])
        door = self._door
        if door is not None and door[d]:
            count += 1
        return count

    def more_frequent(self, slots: Slots, tally: int, other: Slots, other_tally: int) -> bool:
        """TinyLFU's admission test between two known keys, each with uses tallied outside
        the sketch: is the first strictly more frequent? (One call for both estimates.)"""
        t0, t1, t2, t3 = self._rows
        d, i0, i1, i2, i3 = slots
        first = min(t0[i0], t1[i1], t2[i2], t3[i3]) + tally
        d2, i0, i1, i2, i3 = other
        second = min(t0[i0], t1[i1], t2[i2], t3[i3]) + other_tally
        door = self._door
        if door is not None:
            first += door[d]
            second += door[d2]
        # Tallies may run past a counter's range; compare as the counters would hold them.
        if first > _ESTIMATE_MAX:  # noqa: PLR1730 - a branch is cheaper than a min() call
            first = _ESTIMATE_MAX
        if second > _ESTIMATE_MAX:  # noqa: PLR1730 - likewise
            second = _ESTIMATE_MAX
        return first > second

    @property
    def uses_before_aging(self) -> int:
        """How many more uses the sketch takes before it ages."""
        return self._sample_size - self._additions

    def add_counts(self, slots: Slots, count: int) -> None:
        """Add ``count`` uses of a known key straight to its counters (no doorkeeper).

        For callers that tally a resident key's uses themselves and hand them over later
        (the W-TinyLFU cache does, so a hit costs an integer increment); they report the
        uses for aging with ``add_uses`` and flush their tallies in ``before_age``.
        """
        if count > COUNTER_MAX:  # noqa: PLR1730 - likewise, on the miss path
            count = COUNTER_MAX
        saturate = _SATURATE
        t0, t1, t2, t3 = self._rows
        _, i0, i1, i2, i3 = slots
        t0[i0] = saturate[t0[i0] + count]
        t1[i1] = saturate[t1[i1] + count]
        t2[i2] = saturate[t2[i2] + count]
        t3[i3] = saturate[t3[i3] + count]

    def add_uses(self, count: int) -> None:
        """Account ``count`` uses recorded outside ``increment``; ages when due."""
        self._additions += count
        if self._additions >= self._sample_size:
            self.age()

    def age(self) -> None:
        """Halve every counter and clear the doorkeeper, so popularity fades with time."""
        if self._before_age is not None:
            self._before_age()
        for row in self._rows:
            row[:] = row.translate(_HALVE)
        if self._door is not None:
            self._door[:] = bytes(len(self._door))
        # Uses beyond one sample (a long run of hits reported at once) are forgotten with
        # the halving, as if it had happened on time.
        self._additions = min(self._additions, self._sample_size) // 2
        self.resets += 1

    def clear(self) -> None:
        """Forget everything."""
        for row in self._rows:
            row[:] = bytes(len(row))
        if self._door is not None:
            self._door[:] = bytes(len(self._door))
        self._additions = 0
