"""The workload model behind ``hld load``: who acts, what they do, and when.

Pure and deterministic: no clock, no sockets, no global randomness. Every draw takes an
``rng`` (a ``random.Random``) from the caller, so one seed reproduces the same users,
follow graph, operations and arrival times; ``hld.app.load`` is the I/O shell around it.

- Popularity is Zipf: user rank ``k`` (0 = the most popular) is picked with probability
  proportional to ``1 / (k + 1) ** s``. Targets (whose profile is read, who is followed)
  are drawn by popularity, so a few celebrities gather most followers and reads; actors
  are drawn by a separate, seeded ranking of activity, so the busiest posters are not
  simply the celebrities.
- The mix is read-heavy: ``read`` is split over the home timeline, a user timeline, a
  profile and trending (``READ_SPLIT``); writes are a post, a like, and follow/unfollow
  (whichever toggles the actor's current relation, so the graph neither fills nor empties).
- Arrivals are an open-loop Poisson process whose rate is ``--rps`` plus every burst
  active at that instant. The rate is piecewise constant, so the exponential gap is drawn
  per segment and redrawn at each edge (exact, by memorylessness), never by thinning.
- Latencies go into a log-bucketed histogram (1 % relative error, bounded memory), so an
  hour at thousands of requests a second costs the same few kilobytes as a minute.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

# ---- limits: every bound of the model, with its reason ----------------------------------
USERS_MAX = 100_000            # set-up signs every user up (one scrypt hash each on the app)
RPS_MAX = 100_000.0            # far above what one Python process can send
DURATION_S_MAX = 24 * 3600.0   # a day; the histogram is bounded, the schedule is lazy
BURSTS_MAX = 32                # a command line, not a trace
FOLLOWS_PER_USER_MAX = 1_000   # set-up requests are users x follows
POSTS_KNOWN_MAX = 10_000       # post ids remembered as like targets (a ring buffer)
TAGS = 50                      # hashtag vocabulary; Zipf-picked so trending has a head
HISTOGRAM_RATIO = 1.01         # bucket width: a reported percentile is within 1 % of true
HISTOGRAM_FLOOR_S = 1e-6       # latencies below a microsecond share the first bucket

# What ``read`` in a mix stands for: a home timeline is the page everyone opens.
READ_SPLIT: Mapping[str, float] = {"home": 50.0, "user_posts": 20.0, "profile": 20.0,
                                   "trending": 10.0}
WRITE_OPS = ("post", "like", "follow")
# Operations as they are counted; ``follow`` in a mix becomes follow or unfollow.
OPERATIONS = (*READ_SPLIT, "post", "like", "follow", "unfollow")
MIX_KEYS = ("read", *READ_SPLIT, *WRITE_OPS)
DEFAULT_MIX = "read=80,post=10,like=5,follow=5"


class WorkloadError(ValueError):
    """A workload parameter is wrong; the message says which and what is allowed."""


# ---- popularity ---------------------------------------------------------------------------
class Zipf:
    """Ranks ``0 .. n-1`` drawn with probability proportional to ``1 / (rank + 1) ** s``."""

    def __init__(self, n: int, s: float = 1.0) -> None:
        if n < 1:
            raise WorkloadError(f"Zipf needs at least one rank, got n={n}")
        if not (s >= 0.0 and math.isfinite(s)):
            raise WorkloadError(f"Zipf exponent must be finite and >= 0, got s={s}")
        self.n = n
        self.s = s
        total = 0.0
        cumulative = []
        for rank in range(n):
            total += 1.0 / float(rank + 1) ** s
            cumulative.append(total)
        self._total = total
        self._cumulative = cumulative

    def pmf(self, rank: int) -> float:
        """Probability of drawing ``rank``."""
        if not 0 <= rank < self.n:
            return 0.0
        weight: float = 1.0 / float(rank + 1) ** self.s
        return weight / self._total

    def sample(self, rng: random.Random) -> int:
        # Inverse transform over the cumulative weights: one uniform, one bisection.
        rank = bisect.bisect_right(self._cumulative, rng.random() * self._total)
        return min(rank, self.n - 1)  # guards the float edge where u * total == total


# ---- the operation mix ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Mix:
    """Weights of the mix keys (``read`` already split into its four reads)."""

    weights: tuple[tuple[str, float], ...]

    def __post_init__(self) -> None:
        total = sum(w for _, w in self.weights)
        if not self.weights or total <= 0.0:
            raise WorkloadError("the mix has no operation with a positive weight")

    def shares(self) -> dict[str, float]:
        """Fraction of arrivals per mix operation (``follow`` covers unfollow too)."""
        total = sum(w for _, w in self.weights)
        return {op: w / total for op, w in self.weights}

    def chooser(self) -> MixChooser:
        return MixChooser(self)


class MixChooser:
    """Draws operations in ``Mix`` proportions (cumulative weights and a bisection)."""

    def __init__(self, mix: Mix) -> None:
        self._ops = [op for op, _ in mix.weights]
        self._cumulative: list[float] = []
        total = 0.0
        for _, weight in mix.weights:
            total += weight
            self._cumulative.append(total)
        self._total = total

    def choose(self, rng: random.Random) -> str:
        index = bisect.bisect_right(self._cumulative, rng.random() * self._total)
        return self._ops[min(index, len(self._ops) - 1)]


def parse_mix(text: str) -> Mix:
    """``read=80,post=10,like=5,follow=5`` -> a Mix; a key may name a single read too."""
    weights: dict[str, float] = {}
    for part in text.split(","):
        key, sep, value = part.strip().partition("=")
        key = key.strip()
        if not sep or not key:
            raise WorkloadError(f"mix entry {part.strip()!r} is not KEY=WEIGHT "
                                f"(example: {DEFAULT_MIX})")
        if key not in MIX_KEYS:
            raise WorkloadError(f"mix key {key!r} is unknown; use {', '.join(MIX_KEYS)}")
        if key in weights:
            raise WorkloadError(f"mix key {key!r} is given twice")
        try:
            weight = float(value)
        except ValueError:
            raise WorkloadError(f"mix weight {value.strip()!r} of {key!r} is not a "
                                "number") from None
        if not (weight >= 0.0 and math.isfinite(weight)):
            raise WorkloadError(f"mix weight of {key!r} must be a finite number >= 0, "
                                f"got {value.strip()}")
        weights[key] = weight
    split: dict[str, float] = {}
    read = weights.pop("read", 0.0)
    read_total = sum(READ_SPLIT.values())
    for op, share in READ_SPLIT.items():
        split[op] = read * share / read_total + weights.pop(op, 0.0)
    split.update(weights)
    return Mix(tuple((op, w) for op, w in split.items() if w > 0.0))


# ---- arrivals ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Burst:
    """``extra_rps`` more arrivals per second during ``[at_s, at_s + for_s)``."""

    extra_rps: float
    at_s: float
    for_s: float

    @property
    def end_s(self) -> float:
        return self.at_s + self.for_s


def parse_burst(text: str) -> Burst:
    """``RPS:AT_S:FOR_S`` -> a Burst (``500:10:5``: 500 extra rps from 10 s for 5 s)."""
    parts = text.split(":")
    if len(parts) != 3:
        raise WorkloadError(f"burst {text!r} is not RPS:AT_S:FOR_S (example: 500:10:5)")
    try:
        extra_rps, at_s, for_s = (float(p) for p in parts)
    except ValueError:
        raise WorkloadError(f"burst {text!r}: RPS, AT_S and FOR_S must be numbers") from None
    if not all(math.isfinite(v) for v in (extra_rps, at_s, for_s)):
        raise WorkloadError(f"burst {text!r}: values must be finite")
    if not 0.0 < extra_rps <= RPS_MAX:
        raise WorkloadError(f"burst {text!r}: RPS must be > 0 and <= {RPS_MAX:g}")
    if at_s < 0.0:
        raise WorkloadError(f"burst {text!r}: AT_S must be >= 0")
    if for_s <= 0.0:
        raise WorkloadError(f"burst {text!r}: FOR_S must be > 0")
    return Burst(extra_rps, at_s, for_s)


@dataclass(frozen=True, slots=True)
class Schedule:
    """Open-loop Poisson arrivals at ``rps`` plus the active bursts, for ``duration_s``."""

    rps: float
    duration_s: float
    bursts: tuple[Burst, ...] = ()

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rps) and 0.0 < self.rps <= RPS_MAX):
            raise WorkloadError(f"rps must be > 0 and <= {RPS_MAX:g}, got {self.rps:g}")
        if not (math.isfinite(self.duration_s) and 0.0 < self.duration_s <= DURATION_S_MAX):
            raise WorkloadError(f"duration must be > 0 and <= {DURATION_S_MAX:g} s, "
                                f"got {self.duration_s:g}")
        if len(self.bursts) > BURSTS_MAX:
            raise WorkloadError(f"at most {BURSTS_MAX} bursts, got {len(self.bursts)}")

    def rate_at(self, t_s: float) -> float:
        """Arrivals per second at ``t_s`` (0 outside ``[0, duration_s)``)."""
        if not 0.0 <= t_s < self.duration_s:
            return 0.0
        return self.rps + sum(b.extra_rps for b in self.bursts if b.at_s <= t_s < b.end_s)

    def in_burst(self, t_s: float) -> bool:
        return any(b.at_s <= t_s < b.end_s for b in self.bursts)

    def _edges(self) -> list[float]:
        """Instants where the rate may change, ascending, ending at ``duration_s``."""
        edges = {self.duration_s}
        for b in self.bursts:
            edges.update(e for e in (b.at_s, b.end_s) if 0.0 < e < self.duration_s)
        return sorted(edges)

    def expected_arrivals(self) -> float:
        """The mean number of arrivals: the rate integrated over the run."""
        total, start = 0.0, 0.0
        for edge in self._edges():
            total += self.rate_at(start) * (edge - start)
            start = edge
        return total

    def arrivals(self, rng: random.Random) -> Iterator[float]:
        """Arrival instants in seconds from the start, ascending, all < ``duration_s``."""
        t_s = 0.0
        for edge in self._edges():
            rate = self.rate_at(t_s)
            while True:
                # Memoryless: a gap that crosses the edge is discarded and redrawn there.
                t_next = t_s + rng.expovariate(rate)
                if t_next >= edge:
                    break
                t_s = t_next
                yield t_s
            t_s = edge


# ---- the follow graph ----------------------------------------------------------------------
def follow_graph(users: int, follows_per_user: int, rng: random.Random,
                 s: float = 1.0) -> list[tuple[int, int]]:
    """``(follower, followee)`` pairs: every user follows ``follows_per_user`` others
    (fewer if there are not that many), picked by Zipf popularity, without repeats."""
    if not 1 <= users <= USERS_MAX:
        raise WorkloadError(f"users must be between 1 and {USERS_MAX}, got {users}")
    if not 0 <= follows_per_user <= FOLLOWS_PER_USER_MAX:
        raise WorkloadError(f"follows per user must be between 0 and "
                            f"{FOLLOWS_PER_USER_MAX}, got {follows_per_user}")
    zipf = Zipf(users, s)
    wanted = min(follows_per_user, users - 1)
    edges: list[tuple[int, int]] = []
    for follower in range(users):
        chosen: set[int] = set()
        # Bounded: rejection sampling of distinct ranks, then the least popular left over
        # (only matters when a user must follow nearly everyone).
        for _ in range(wanted * 20):
            if len(chosen) == wanted:
                break
            followee = zipf.sample(rng)
            if followee != follower:
                chosen.add(followee)
        rest = (u for u in range(users) if u != follower and u not in chosen)
        while len(chosen) < wanted:
            chosen.add(next(rest))
        edges.extend((follower, followee) for followee in sorted(chosen))
    return edges


# ---- requests ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Request:
    """One operation to send: ``actor`` acts (its token); ``target`` is a user index."""

    op: str
    actor: int
    target: int = -1
    post_id: int = -1
    text: str = ""


class Workload:
    """Turns draws into requests; remembers the follow graph and known post ids."""

    def __init__(self, users: int, mix: Mix, rng: random.Random, *, s: float = 1.0,
                 following: set[tuple[int, int]] | None = None) -> None:
        if not 1 <= users <= USERS_MAX:
            raise WorkloadError(f"users must be between 1 and {USERS_MAX}, got {users}")
        self.users = users
        self.popularity = Zipf(users, s)
        # Activity ranking: a seeded permutation of the users, so actors and celebrities
        # are different people (as on a real service, where most readers rarely post).
        self.activity_order = list(range(users))
        rng.shuffle(self.activity_order)
        self.tags = Zipf(TAGS, s)
        self.following: set[tuple[int, int]] = set(following or ())
        self._chooser = mix.chooser()
        self._posts: list[int] = []
        self._posts_next = 0
        self._posts_written = 0

    @property
    def posts_known(self) -> int:
        return len(self._posts)

    def note_post(self, post_id: int) -> None:
        """Remember a post id as a like target (the oldest is forgotten past the bound)."""
        if len(self._posts) < POSTS_KNOWN_MAX:
            self._posts.append(post_id)
        else:
            self._posts[self._posts_next] = post_id
            self._posts_next = (self._posts_next + 1) % POSTS_KNOWN_MAX

    def actor(self, rng: random.Random) -> int:
        return self.activity_order[self.popularity.sample(rng)]

    def target(self, rng: random.Random, actor: int) -> int:
        """A popular user other than ``actor`` (the actor itself when alone)."""
        if self.users == 1:
            return actor
        while True:  # ends: at least one rank other than the actor has weight
            target = self.popularity.sample(rng)
            if target != actor:
                return target

    def post_text(self, rng: random.Random, actor: int) -> str:
        self._posts_written += 1
        tag = self.tags.sample(rng)
        return f"load post {self._posts_written} by user {actor} #topic{tag}"

    def next_request(self, rng: random.Random) -> Request:
        op = self._chooser.choose(rng)
        actor = self.actor(rng)
        if op in ("user_posts", "profile"):
            return Request(op, actor, target=self.target(rng, actor))
        if op == "like" and self._posts:
            return Request("like", actor, post_id=self._posts[rng.randrange(len(self._posts))])
        if op in ("post", "like"):  # nothing to like yet: write a post instead
            return Request("post", actor, text=self.post_text(rng, actor))
        if op == "follow":
            target = self.target(rng, actor)
            if target == actor:
                return Request("home", actor)
            edge = (actor, target)
            # Toggle, and assume success: the shell reverts the edge if the server refuses.
            if edge in self.following:
                self.following.discard(edge)
                return Request("unfollow", actor, target=target)
            self.following.add(edge)
            return Request("follow", actor, target=target)
        return Request(op, actor)


# ---- latency -------------------------------------------------------------------------------
_LOG_RATIO = math.log(HISTOGRAM_RATIO)


@dataclass(slots=True)
class Histogram:
    """Latencies in log-spaced buckets; quantiles within ``HISTOGRAM_RATIO`` of the truth."""

    counts: dict[int, int] = field(default_factory=dict)
    count: int = 0
    max_s: float = 0.0
    min_s: float = math.inf

    def record(self, latency_s: float) -> None:
        value = max(latency_s, HISTOGRAM_FLOOR_S)
        bucket = int(math.log(value / HISTOGRAM_FLOOR_S) / _LOG_RATIO)
        self.counts[bucket] = self.counts.get(bucket, 0) + 1
        self.count += 1
        self.max_s = max(self.max_s, latency_s)
        self.min_s = min(self.min_s, latency_s)

    def merge(self, other: Histogram) -> None:
        for bucket, n in other.counts.items():
            self.counts[bucket] = self.counts.get(bucket, 0) + n
        self.count += other.count
        self.max_s = max(self.max_s, other.max_s)
        self.min_s = min(self.min_s, other.min_s)

    def quantile(self, q: float) -> float:
        """The ``q``-quantile in seconds (NaN when empty), clamped to the recorded range."""
        if self.count == 0:
            return math.nan
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                # The bucket's geometric middle: at most half a bucket from any member.
                value: float = HISTOGRAM_FLOOR_S * HISTOGRAM_RATIO ** (bucket + 0.5)
                return min(max(value, self.min_s), self.max_s)
        return self.max_s
