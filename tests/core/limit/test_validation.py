"""Bad configuration is refused at construction, with the parameter named."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from hld.core.limit import (
    GCRA,
    FixedWindow,
    LeakyMeter,
    LeakyQueue,
    SlidingCounter,
    SlidingLog,
    TokenBucket,
    make,
)

BAD_NUMBERS = [0, -1, -0.5, math.nan, math.inf, -math.inf]

RATE_BUILDERS: list[Callable[[float], object]] = [
    lambda r: TokenBucket(r, 5), lambda r: GCRA(r, 5), lambda r: LeakyMeter(r, 5),
    lambda r: LeakyQueue(r, 5), lambda r: make("sliding_log", r, 5),
]
WINDOW_BUILDERS: list[Callable[[float], object]] = [
    lambda w: FixedWindow(5, w), lambda w: SlidingLog(5, w), lambda w: SlidingCounter(5, w),
]


@pytest.mark.parametrize("build", RATE_BUILDERS)
@pytest.mark.parametrize("rate", BAD_NUMBERS)
def test_invalid_rates_name_rate_per_s(build: Callable[[float], object], rate: float) -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        build(rate)


@pytest.mark.parametrize("build", WINDOW_BUILDERS)
@pytest.mark.parametrize("window", BAD_NUMBERS)
def test_invalid_windows_name_window_s(build: Callable[[float], object], window: float) -> None:
    with pytest.raises(ValueError, match="window_s"):
        build(window)


@pytest.mark.parametrize(("build", "name"), [
    (lambda b: TokenBucket(1.0, b), "burst"), (lambda b: GCRA(1.0, b), "burst"),
    (lambda b: LeakyMeter(1.0, b), "burst"), (lambda b: LeakyQueue(1.0, b), "capacity"),
    (lambda b: FixedWindow(b, 1.0), "limit"), (lambda b: SlidingLog(b, 1.0), "limit"),
    (lambda b: SlidingCounter(b, 1.0), "limit"),
])
@pytest.mark.parametrize("burst", [0, -3])
def test_burst_below_one_names_the_parameter(build: Callable[[int], object], name: str,
                                             burst: int) -> None:
    with pytest.raises(ValueError, match=name):
        build(burst)


@pytest.mark.parametrize("value", ["10", None, True, 2.5])
def test_wrong_types_are_type_errors(value: object) -> None:
    with pytest.raises(TypeError, match="burst"):
        TokenBucket(1.0, value)  # type: ignore[arg-type]


def test_unknown_algorithm_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="token_bucket"):
        make("magic", 1.0, 1)
