"""Directory router: explicit entries, moves, a fallback, and plans from table diffs."""

from __future__ import annotations

import pytest

from hld.core.sharding import (
    DirectoryRouter,
    HashRouter,
    KeyMove,
    UnknownShardError,
    UnplacedKeyError,
)


def directory() -> DirectoryRouter:
    return DirectoryRouter(["a", "b", "c"], {"user:1": "a", "user:2": "b", b"user:3": "c"})


def test_entries_decide_the_shard() -> None:
    router = directory()
    assert [router.lookup(k) for k in ["user:1", "user:2", "user:3"]] == ["a", "b", "c"]
    assert router.lookup(b"user:1") == "a"


def test_a_key_without_entry_or_fallback_is_a_clear_error() -> None:
    with pytest.raises(UnplacedKeyError, match="assign it first"):
        directory().lookup("user:9")


def test_a_fallback_router_places_the_rest() -> None:
    fallback = HashRouter(["a", "b", "c"])
    router = DirectoryRouter(["a", "b", "c"], {"hot": "c"}, fallback=fallback)
    assert router.lookup("hot") == "c"
    assert router.lookup("user:9") == fallback.lookup("user:9")


def test_move_relocates_one_key_and_reports_it() -> None:
    router = directory()
    assert router.move("user:1", "c") == KeyMove(b"user:1", "a", "c")
    assert router.lookup("user:1") == "c"
    assert router.lookup("user:2") == "b"


def test_move_to_an_unknown_shard_is_rejected() -> None:
    router = directory()
    with pytest.raises(UnknownShardError):
        router.move("user:1", "z")
    assert router.lookup("user:1") == "a"


def test_plan_lists_every_key_whose_entry_changed() -> None:
    before = directory()
    after = before.copy()
    after.move("user:1", "b")
    after.move("user:3", "a")
    after.assign("user:2", "b")  # unchanged
    plan = before.plan_to(after)
    assert list(plan) == [KeyMove(b"user:1", "a", "b"), KeyMove(b"user:3", "c", "a")]
    assert plan.routes() == {("a", "b"): 1, ("c", "a"): 1}


def test_removing_a_shard_moves_its_entries_where_told() -> None:
    router = directory()
    moved = router.remove_shard("a", to="b")
    assert moved == [KeyMove(b"user:1", "a", "b")]
    assert router.shards == ("b", "c")
    with pytest.raises(ValueError, match="holds 2 entries"):
        router.remove_shard("b")


def test_an_unknown_entry_shard_or_fallback_shard_is_rejected() -> None:
    with pytest.raises(UnknownShardError):
        DirectoryRouter(["a"], {"k": "b"})
    with pytest.raises(UnknownShardError, match="fallback"):
        DirectoryRouter(["a"], fallback=HashRouter(["a", "b"]))


def test_unassign_falls_back() -> None:
    router = DirectoryRouter(["a", "b"], {"k": "b"}, fallback=HashRouter(["a"]))
    router.unassign("k")
    assert router.lookup("k") == "a"
