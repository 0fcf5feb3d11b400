"""Save points: when a background snapshot is due, decided as Redis' ``save`` setting does.

A save point ``(seconds, changes)`` is reached once at least ``changes`` writes happened
since the last successful save *and* more than ``seconds`` passed since it (Redis'
serverCron test: ``dirty >= changes && now - lastsave > seconds``). The first reached
point, in configured order, triggers the save. After a failed background save the
points are held back for ``BGSAVE_RETRY_DELAY_S`` from the last attempt, so a full disk
does not fork a child every cron tick.

Pure: the caller passes the clock (``now_s``, Unix seconds) and its counters; the store's
persistence side calls ``due`` from its cron and starts the snapshot.

The setting's text is Redis' own: pairs of integers separated by single spaces
(``"3600 1 300 100 60 10000"``), or ``""`` for no save points. ``parse`` accepts and
rejects what Redis 7.0 accepts and rejects (checked against redis-server: seconds at
least 1, changes at least 0, an even count, single spaces, an optional sign).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

# Redis' CONFIG_BGSAVE_RETRY_DELAY: wait this long after a failed background save.
BGSAVE_RETRY_DELAY_S: Final = 5
# The number of save points one setting may hold (Redis has no limit; any real setting
# has a handful, and the cron scans them every tick).
SAVE_POINTS_MAX: Final = 64
INVALID: Final = "Invalid save parameters"  # Redis' wording, which CONFIG SET reports

# What C's strtoll consumes whole: optional leading whitespace, a sign, digits.
_NUMBER = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+")


@dataclass(frozen=True, slots=True)
class SavePoint:
    """Save after ``changes`` writes once more than ``seconds`` passed since a save."""

    seconds: int
    changes: int


SavePoints = tuple[SavePoint, ...]

# redis-server 7.0's default (``CONFIG GET save`` on a fresh server).
REDIS_DEFAULT: Final[SavePoints] = (SavePoint(3600, 1), SavePoint(300, 100),
                                    SavePoint(60, 10000))


def _number(word: str) -> int:
    if word == "":
        return 0  # strtoll("") is 0 with nothing left over, so Redis takes it
    if _NUMBER.fullmatch(word) is None:
        raise ValueError(INVALID)
    return int(word)


def parse(text: str) -> SavePoints:
    """``"900 1 300 10"`` -> save points; ``""`` -> none. ValueError(INVALID) otherwise."""
    if text == "":
        return ()
    words = text.split(" ")
    if len(words) % 2 or len(words) > 2 * SAVE_POINTS_MAX:
        raise ValueError(INVALID)
    points = []
    for i in range(0, len(words), 2):
        seconds, changes = _number(words[i]), _number(words[i + 1])
        if seconds < 1 or changes < 0:
            raise ValueError(INVALID)
        points.append(SavePoint(seconds, changes))
    return tuple(points)


def render(points: SavePoints) -> str:
    """The setting as ``CONFIG GET save`` prints it: ``"3600 1 300 100"`` or ``""``."""
    return " ".join(f"{p.seconds} {p.changes}" for p in points)


def due(points: SavePoints, *, changes: int, now_s: float, last_save_s: float,
        last_try_s: float, last_ok: bool) -> SavePoint | None:
    """The first save point reached now, or None.

    ``changes``: writes since the last successful save; ``last_save_s``: when it ended;
    ``last_try_s``: when the last background save was started; ``last_ok``: whether it
    succeeded.
    """
    if not last_ok and now_s - last_try_s <= BGSAVE_RETRY_DELAY_S:
        return None
    elapsed_s = now_s - last_save_s
    for point in points:
        if changes >= point.changes and elapsed_s > point.seconds:
            return point
    return None
