"""Validation helpers shared by the resilience blocks: one clear message per mistake."""

from __future__ import annotations

import math

from hld.core.resilience.errors import ResilienceConfigError


def check_pct(name: str, value: float) -> float:
    """A percentage threshold in (0, 100]."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ResilienceConfigError(f"{name} must be a number in (0, 100], got {value!r}")
    if not 0 < value <= 100:
        raise ResilienceConfigError(f"{name} must be in (0, 100], got {value}")
    return float(value)


def check_positive(name: str, value: float, *, maximum: float = math.inf) -> float:
    """A duration or size that must be > 0 (and finite, and at most ``maximum``)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ResilienceConfigError(f"{name} must be a number > 0, got {value!r}")
    if not 0 < value <= maximum or math.isinf(value):
        raise ResilienceConfigError(f"{name} must be > 0 and at most {maximum}, got {value}")
    return float(value)


def check_non_negative(name: str, value: float, *, maximum: float = math.inf) -> float:
    """A delay that may be zero but never negative."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ResilienceConfigError(f"{name} must be a number >= 0, got {value!r}")
    if not 0 <= value <= maximum or math.isinf(value):
        raise ResilienceConfigError(f"{name} must be >= 0 and at most {maximum}, got {value}")
    return float(value)


def check_int(name: str, value: int, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ResilienceConfigError(f"{name} must be an int, got {value!r}")
    if not minimum <= value <= maximum:
        raise ResilienceConfigError(
            f"{name} must be between {minimum} and {maximum}, got {value}")
    return value
