"""Backends, pools and requests: clear errors at the boundary."""

from __future__ import annotations

import pytest

from hld.core.balance import Backend, NoBackendAvailable, Pool, Request, RoundRobin
from hld.core.balance.limits import BACKENDS_MAX, WEIGHT_MAX


@pytest.mark.parametrize("weight", [0, -1, WEIGHT_MAX + 1])
def test_weight_out_of_range_is_rejected(weight: int) -> None:
    with pytest.raises(ValueError, match="weight"):
        Backend("a", weight)


@pytest.mark.parametrize("weight", [1.5, True, "2"])
def test_weight_must_be_an_int(weight: object) -> None:
    with pytest.raises(TypeError, match="weight"):
        Backend("a", weight)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "x" * 257])
def test_name_length_is_checked(name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        Backend(name)


def test_duplicate_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate backend name 'a'"):
        Pool(["a", "b", Backend("a", 2)])


def test_set_weight_rejects_zero_and_unknown_names() -> None:
    pool = Pool(["a"])
    with pytest.raises(ValueError, match="weight"):
        pool.set_weight("a", 0)
    with pytest.raises(KeyError, match="no backend named 'z'"):
        pool.set_weight("z", 2)
    assert pool.get("a") == Backend("a", 1)


def test_remove_unknown_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="no backend named 'z'"):
        Pool(["a"]).remove("z")


def test_pool_is_bounded() -> None:
    pool = Pool(f"b{i}" for i in range(BACKENDS_MAX))
    with pytest.raises(ValueError, match="at most"):
        pool.add("one-more")


def test_pool_keeps_order_and_versions_changes() -> None:
    pool = Pool(["a", "b", "c"])
    version = pool.version
    pool.set_weight("b", 4)
    pool.remove("a")
    pool.add("d")
    assert [Backend("b", 4), Backend("c"), Backend("d")] == list(pool)
    assert pool.version == version + 3


def test_no_backend_available_is_a_lookup_error() -> None:
    with pytest.raises(LookupError):
        RoundRobin([]).pick()
    assert issubclass(NoBackendAvailable, LookupError)


def test_not_a_backend_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="Backend or a backend name"):
        Pool([42])  # type: ignore[list-item]


def test_statistics_snapshot() -> None:
    balancer = RoundRobin(["a", "b"])
    backend = balancer.pick(Request())
    balancer.on_start(backend)
    balancer.report_health("b", False, 0.0)
    stats = balancer.statistics()
    assert (stats.policy, stats.backends, stats.available, stats.panic,
            dict(stats.in_flight)) == ("round_robin", 2, 1, False, {"a": 1})
