"""Save points: Redis' ``save`` setting text and the "is a snapshot due" decision, with the
clock passed in. The accepted and refused texts are those redis-server 7.0.15 accepts and
refuses for ``CONFIG SET save`` (checked by hand; the behaviour suite checks a sample
against the real server)."""

from __future__ import annotations

import pytest

from hld.core.kv import savepoints
from hld.core.kv.savepoints import BGSAVE_RETRY_DELAY_S, REDIS_DEFAULT, SavePoint, due

T0 = 1_700_000_000.0  # any fixed Unix time


@pytest.mark.parametrize(("text", "expected"), [
    ("", ()),
    ("900 1", (SavePoint(900, 1),)),
    ("3600 1 300 100 60 10000", REDIS_DEFAULT),
    ("900 0", (SavePoint(900, 0),)),
    ("+5 1", (SavePoint(5, 1),)),
    ("05 1", (SavePoint(5, 1),)),
    ("900 1 900 1", (SavePoint(900, 1), SavePoint(900, 1))),
    ("9999999999999 1", (SavePoint(9999999999999, 1),)),
])
def test_redis_accepted_save_settings_parse(text: str, expected: tuple[SavePoint, ...]) -> None:
    assert savepoints.parse(text) == expected


@pytest.mark.parametrize("text", [
    "900", "900 x", "900 1 300", "0 1", "-1 5", "0 0", " 900 1", "900  1", "900 1 ",
    "1e3 1", "900 -1", "+ 1", "900\t1",
])
def test_redis_refused_save_settings_are_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="Invalid save parameters"):
        savepoints.parse(text)


def test_too_many_save_points_are_refused() -> None:
    text = " ".join(["60 1"] * (savepoints.SAVE_POINTS_MAX + 1))
    with pytest.raises(ValueError, match="Invalid save parameters"):
        savepoints.parse(text)


@pytest.mark.parametrize(("text", "rendered"), [
    ("", ""), ("+5 1", "5 1"), ("3600 1 300 100 60 10000", "3600 1 300 100 60 10000"),
])
def test_render_prints_what_config_get_save_prints(text: str, rendered: str) -> None:
    assert savepoints.render(savepoints.parse(text)) == rendered


def _due(points: tuple[SavePoint, ...], *, changes: int, elapsed_s: float,
         since_try_s: float = 1e9, last_ok: bool = True) -> SavePoint | None:
    now = T0 + 1e6
    return due(points, changes=changes, now_s=now, last_save_s=now - elapsed_s,
               last_try_s=now - since_try_s, last_ok=last_ok)


def test_a_point_is_due_once_enough_changes_and_strictly_more_time() -> None:
    point = SavePoint(60, 10)
    assert _due((point,), changes=10, elapsed_s=61) == point
    assert _due((point,), changes=10, elapsed_s=60) is None  # Redis: "> seconds"
    assert _due((point,), changes=9, elapsed_s=3600) is None


def test_the_first_reached_point_in_configured_order_is_reported() -> None:
    assert _due(REDIS_DEFAULT, changes=10_000, elapsed_s=61) == SavePoint(60, 10000)
    assert _due(REDIS_DEFAULT, changes=100, elapsed_s=301) == SavePoint(300, 100)
    assert _due(REDIS_DEFAULT, changes=10_000, elapsed_s=3601) == SavePoint(3600, 1)
    assert _due(REDIS_DEFAULT, changes=99, elapsed_s=3599) is None


def test_no_save_points_never_save() -> None:
    assert _due((), changes=10**9, elapsed_s=10**9) is None


def test_zero_changes_point_saves_periodically_even_without_writes() -> None:
    assert _due((SavePoint(5, 0),), changes=0, elapsed_s=6) == SavePoint(5, 0)


def test_after_a_failed_save_points_wait_the_retry_delay() -> None:
    point = SavePoint(1, 1)
    assert _due((point,), changes=5, elapsed_s=100, since_try_s=BGSAVE_RETRY_DELAY_S,
                last_ok=False) is None
    assert _due((point,), changes=5, elapsed_s=100, since_try_s=BGSAVE_RETRY_DELAY_S + 1,
                last_ok=False) == point
    # A successful last save has no retry delay.
    assert _due((point,), changes=5, elapsed_s=100, since_try_s=0, last_ok=True) == point
