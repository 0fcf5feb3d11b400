"""chirp end to end on PostgreSQL: an app server and a worker whose SQL is a real server.

The same flow as on SQLite (sign-up, follow, post fanned out by a worker, timelines),
with ``app.sql_url`` pointing both processes at a fresh PostgreSQL database.
"""

from __future__ import annotations

import httpx
import psycopg
import pytest

from tests.app.conftest import Chirp, bearer, poll, signup
from tests.app.postgres import PostgresServer

pytestmark = pytest.mark.blackbox


def home_ids(client: httpx.Client, token: str) -> list[int]:
    reply = client.get("/api/timeline", headers=bearer(token))
    assert reply.status_code == 200, reply.text
    return [post["id"] for post in reply.json()["posts"]]


def test_sign_up_follow_post_and_timelines_on_postgresql(
        chirp: Chirp, postgres: PostgresServer) -> None:
    url = postgres.new_database()
    chirp.configure(app={"sql_url": url})
    client, (worker,) = chirp.up(1)
    ada, bob = signup(client, "ada"), signup(client, "bob")
    assert client.post("/api/signup", json={"username": "ada", "password": "password1"}
                       ).status_code == 409  # the unique constraint, through psycopg
    assert client.post("/api/follow/ada", headers=bearer(bob["token"])).status_code == 201

    reply = client.post("/api/posts", json={"text": "hello from #postgres"},
                        headers=bearer(ada["token"]))
    assert reply.status_code == 201, reply.text
    post_id = reply.json()["id"]

    poll(lambda: home_ids(client, bob["token"]) == [post_id], 15.0, "fan-out to bob")
    assert [post_id] == home_ids(client, ada["token"])
    assert [post_id] == [p["id"] for p in client.get("/api/users/ada/posts").json()["posts"]]
    profile = client.get("/api/users/ada").json()
    assert (profile["followers"], profile["following"], profile["posts"]) == (1, 0, 1)
    assert [("fanout", post_id)] == [(r["event"], r["post_id"])
                                     for r in worker.events("fanout")]

    # the rows are in PostgreSQL, not in a SQLite file beside the app
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT u.username, p.text FROM posts p "
                            "JOIN users u ON u.id = p.author_id").fetchall()
        follows = conn.execute("SELECT COUNT(*) FROM follows").fetchone()
    assert rows == [("ada", "hello from #postgres")]
    assert follows == (1,)
    assert not list((chirp.dir / "data").glob("*.db"))
