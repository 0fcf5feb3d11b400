"""chirp's SQL layer: one contract, run on SQLite and on a real PostgreSQL server.

Each test gets a fresh database (a new SQLite file, or a new PostgreSQL database on the
session's server) and drives ``hld.app.sql.Database`` through its async API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hld.app.sql import ConflictError, Database, Post
from tests.app.postgres import PostgresServer

Scenario = Callable[[Database], Awaitable[Any]]
Run = Callable[[Scenario], Any]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'chirp.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture
def run(url: str) -> Run:
    """Run a scenario on an opened Database (in a fresh event loop), closing it after."""

    def go(scenario: Scenario) -> Any:
        async def main() -> object:
            db = Database(url)
            await db.open()
            try:
                return await scenario(db)
            finally:
                await db.close()

        return asyncio.run(main())

    return go


async def users(db: Database, *names: str) -> list[int]:
    return [await db.create_user(name, b"hash-" + name.encode(), b"salt") for name in names]


def test_a_user_is_found_by_name_with_its_hash_and_salt(run: Run) -> None:
    async def scenario(db: Database) -> object:
        (uid,) = await users(db, "ada")
        found = await db.user_by_name("ada")
        assert found is not None
        return (found.id, found.username, found.password_hash, found.salt), uid

    (row, uid) = run(scenario)
    assert (uid, "ada", b"hash-ada", b"salt") == row


def test_an_unknown_user_is_none(run: Run) -> None:
    async def scenario(db: Database) -> object:
        return await db.user_by_name("nobody")

    assert run(scenario) is None


def test_a_taken_username_is_a_conflict_and_the_connection_stays_usable(
        run: Run) -> None:
    """PostgreSQL refuses every statement after an error until a rollback: the layer
    must roll back, or the next query on the one connection fails."""
    async def scenario(db: Database) -> object:
        await users(db, "ada")
        with pytest.raises(ConflictError):
            await users(db, "ada")
        (bob,) = await users(db, "bob")
        found = await db.user_by_name("bob")
        return found is not None and found.id == bob

    assert run(scenario) is True


def test_follow_is_created_once_and_counted(run: Run) -> None:
    async def scenario(db: Database) -> object:
        ada, bob, cy = await users(db, "ada", "bob", "cy")
        created = [await db.follow(bob, ada), await db.follow(bob, ada),
                   await db.follow(cy, ada)]
        return created, await db.counts(ada), await db.counts(bob), \
            sorted(await db.followers(ada, 10))

    created, ada_counts, bob_counts, followers = run(scenario)
    assert created == [True, False, True]
    assert ada_counts == (2, 0, 0)
    assert bob_counts == (0, 1, 0)
    assert len(followers) == 2


def test_unfollow_says_whether_there_was_a_follow(run: Run) -> None:
    async def scenario(db: Database) -> object:
        ada, bob = await users(db, "ada", "bob")
        await db.follow(bob, ada)
        return [await db.unfollow(bob, ada), await db.unfollow(bob, ada)], \
            await db.counts(ada)

    results, counts = run(scenario)
    assert results == [True, False]
    assert counts == (0, 0, 0)


def test_followers_are_bounded_by_the_limit(run: Run) -> None:
    async def scenario(db: Database) -> object:
        star, *fans = await users(db, "star", "f1", "f2", "f3")
        for fan in fans:
            await db.follow(fan, star)
        return len(await db.followers(star, 2))

    assert run(scenario) == 2


def test_celebrities_are_the_followed_authors_above_the_threshold(
        run: Run) -> None:
    async def scenario(db: Database) -> object:
        star, plain, me, f1, f2 = await users(db, "star", "plain", "me", "f1", "f2")
        for fan in (me, f1, f2):
            await db.follow(fan, star)
        await db.follow(me, plain)
        return await db.followed_celebrities(me, 2, 10), star

    celebrities, star = run(scenario)
    assert [star] == celebrities


def test_post_ids_grow_and_posts_come_back_by_id_with_their_author(
        run: Run) -> None:
    async def scenario(db: Database) -> object:
        (ada,) = await users(db, "ada")
        first = await db.create_post(ada, "one", 100.0)
        second = await db.create_post(ada, "two 'quoted' ünïcode", 101.5)
        found = await db.posts([second, first, 999_999])
        return first, second, found, await db.recent_post_ids(ada, 10), \
            await db.recent_post_ids(ada, 1), await db.counts(ada), ada

    first, second, found, recent, newest, counts, ada = run(scenario)
    assert second > first
    assert {first: Post(first, ada, "ada", "one", 100.0),
            second: Post(second, ada, "ada", "two 'quoted' ünïcode", 101.5)} == found
    assert [second, first] == recent
    assert [second] == newest
    assert counts == (0, 0, 2)


def test_no_ids_is_no_posts_without_a_query(run: Run) -> None:
    async def scenario(db: Database) -> object:
        return await db.posts([])

    assert run(scenario) == {}


def test_the_schema_is_created_idempotently(url: str) -> None:
    """Opening an existing database again (an app restart) keeps its rows."""
    async def main() -> object:
        db = Database(url)
        await db.open()
        await users(db, "ada")
        await db.close()
        again = Database(url)
        await again.open()
        try:
            found = await again.user_by_name("ada")
            return found is not None
        finally:
            await again.close()

    assert asyncio.run(main()) is True


def test_apps_starting_together_create_the_schema_once(url: str) -> None:
    """Several apps opening one new database at the same moment all start (on PostgreSQL
    concurrent CREATE ... IF NOT EXISTS can fail one of them unless they take turns)."""
    async def main() -> list[bool]:
        dbs = [Database(url) for _ in range(4)]
        await asyncio.gather(*(db.open() for db in dbs))
        try:
            await users(dbs[0], "ada")
            return [await db.user_by_name("ada") is not None for db in dbs]
        finally:
            for db in dbs:
                await db.close()

    assert asyncio.run(main()) == [True] * 4
