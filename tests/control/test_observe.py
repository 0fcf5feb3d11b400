"""The dashboard's latency estimate: a windowed, interpolated quantile over histogram buckets."""

from __future__ import annotations

import pytest

from hld.control.observe import _quantile, _window

INF = float("inf")


def test_quantile_interpolates_inside_the_bucket_holding_the_rank() -> None:
    buckets = [(0.001, 0.0), (0.005, 50.0), (0.01, 100.0), (INF, 100.0)]
    assert _quantile(buckets, 0.25) == pytest.approx(0.003)
    assert _quantile(buckets, 0.5) == pytest.approx(0.005)
    assert _quantile(buckets, 0.99) == pytest.approx(0.0099)


def test_quantile_of_the_first_bucket_starts_at_zero() -> None:
    assert _quantile([(0.01, 10.0), (INF, 10.0)], 0.5) == pytest.approx(0.005)


def test_quantile_in_the_inf_bucket_is_the_largest_finite_bound() -> None:
    assert _quantile([(0.1, 0.0), (10.0, 0.0), (INF, 10.0)], 0.5) == 10.0


def test_quantile_skips_empty_buckets_below_the_rank() -> None:
    buckets = [(0.001, 0.0), (0.005, 0.0), (0.25, 4.0), (INF, 4.0)]
    assert _quantile(buckets, 0.5) == pytest.approx(0.005 + 0.245 * 0.5)


def test_quantile_of_an_empty_window_is_unknown() -> None:
    assert _quantile([], 0.5) is None
    assert _quantile([(0.1, 0.0), (INF, 0.0)], 0.99) is None


def test_window_is_the_difference_between_cumulative_histograms() -> None:
    old = [(0.1, 5.0), (INF, 10.0)]
    new = [(0.1, 7.0), (INF, 20.0)]
    assert _window(old, new) == [(0.1, 2.0), (INF, 10.0)]


def test_window_after_a_counter_reset_is_the_new_histogram() -> None:
    old = [(0.1, 50.0), (INF, 60.0)]
    new = [(0.1, 1.0), (INF, 2.0)]
    assert _window(old, new) == new
    assert _window(None, new) == new
