"""Fallback: covered errors become a value; others propagate."""

from __future__ import annotations

import pytest

from hld.core.resilience import CircuitOpenError, Fallback, ResilienceConfigError


def test_value_fallback_covers_the_listed_errors() -> None:
    fb = Fallback.of_value("cached", on=(CircuitOpenError,))
    assert fb.handles(CircuitOpenError("open"))
    assert fb.recover(CircuitOpenError("open")) == "cached"


def test_function_fallback_sees_the_error() -> None:
    fb: Fallback[str] = Fallback(lambda exc: f"degraded: {exc}")
    assert fb.recover(ValueError("boom")) == "degraded: boom"


def test_uncovered_errors_propagate() -> None:
    fb = Fallback.of_value(0, on=(KeyError,))
    with pytest.raises(ValueError, match="not mine"):
        fb.recover(ValueError("not mine"))


@pytest.mark.parametrize("on", [(), (int,), ("ValueError",)])
def test_bad_error_lists_are_refused(on: tuple[object, ...]) -> None:
    with pytest.raises(ResilienceConfigError, match="'on'"):
        Fallback(lambda e: 0, on=on)  # type: ignore[arg-type]
