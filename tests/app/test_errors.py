"""Malformed or unauthorised requests get a JSON error with the right status."""

from __future__ import annotations

import httpx
import pytest

from tests.app.conftest import Chirp, bearer, signup

pytestmark = pytest.mark.blackbox


def expect(reply: httpx.Response, status: int, words: str) -> None:
    body = reply.json()
    assert (reply.status_code, body["status"]) == (status, status), reply.text
    assert words in body["error"]


def test_bad_requests_get_json_errors(shared: tuple[Chirp, httpx.Client]) -> None:
    _, client = shared
    errs = signup(client, "errs")
    token = errs["token"]
    expect(client.post("/api/signup", content=b"{not json"), 400, "must be JSON")
    expect(client.post("/api/signup", json=[1, 2]), 400, "JSON object")
    expect(client.get("/api/timeline"), 401, "log in first")
    expect(client.get("/api/timeline", headers=bearer("abc.def.ghi")), 401, "invalid token")
    expect(client.post("/api/login", json={"username": "errs", "password": "wrong-one"}),
           401, "wrong username or password")
    expect(client.post("/api/login", json={"username": "nobody1", "password": "x" * 9}),
           401, "wrong username or password")
    expect(client.get("/api/users/nobody1"), 404, "no user named 'nobody1'")
    expect(client.post("/api/follow/nobody1", headers=bearer(token)), 404, "no user")
    expect(client.delete("/api/follow/errs2", headers=bearer(token)), 404, "no user")
    expect(client.get("/api/posts/999999"), 404, "no post with id 999999")
    expect(client.post("/api/posts/999999/like", headers=bearer(token)), 404, "no post")
    expect(client.get("/api/nothing-here"), 404, "no such endpoint")
    expect(client.put("/api/posts", headers=bearer(token)), 405, "not allowed")
    expect(client.post("/api/signup", json={"username": "errs", "password": "password1"}),
           409, "taken")
    expect(client.post("/api/posts", headers=bearer(token), content=b"x" * 5000), 413,
           "larger than 4096 bytes")
    expect(client.post("/api/posts", headers=bearer(token), json={"text": "y" * 281}),
           422, "at most 280")
    expect(client.post("/api/posts", headers=bearer(token), json={"text": "   "}), 422,
           "non-empty")
    expect(client.post("/api/signup", json={"username": "No Spaces", "password": "pw123456"}),
           422, "a-z, 0-9 and _")
    expect(client.post("/api/signup", json={"username": "shortpw", "password": "short"}),
           422, "8-128 characters")
    expect(client.post("/api/follow/errs", headers=bearer(token)), 422, "yourself")
    expect(client.get("/api/timeline?limit=0", headers=bearer(token)), 400, "limit")
    expect(client.get("/api/timeline?limit=101", headers=bearer(token)), 400, "limit")
    signup(client, "errs2")
    expect(client.delete("/api/follow/errs2", headers=bearer(token)), 404, "do not follow")


def test_a_post_of_exactly_280_characters_is_accepted(
        shared: tuple[Chirp, httpx.Client]) -> None:
    _, client = shared
    user = signup(client, "longpost")
    reply = client.post("/api/posts", headers=bearer(user["token"]), json={"text": "z" * 280})
    assert reply.status_code == 201
