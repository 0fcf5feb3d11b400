"""chirp end to end: sign-up, follows, posts fanned out by a worker, likes, trending, SSE."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import httpx
import pytest

from tests.app.conftest import Chirp, bearer, poll, signup
from tests.support import read_http_response

pytestmark = pytest.mark.blackbox


def home_ids(client: httpx.Client, token: str) -> list[int]:
    reply = client.get("/api/timeline", headers=bearer(token))
    assert reply.status_code == 200, reply.text
    return [post["id"] for post in reply.json()["posts"]]


@pytest.mark.parametrize("backend", ["hld", "redis"])
def test_posts_reach_followers_home_timelines(chirp: Chirp) -> None:
    """The core flow, on hld-store and on a real redis-server alike."""
    chirp.configure(store={"wait_replicas": 1, "wait_timeout_ms": 50})
    client, (worker,) = chirp.up(1)
    alice, bob, carol = (signup(client, n) for n in ("alice", "bob", "carol"))
    login = client.post("/api/login", json={"username": "bob", "password": "password1"})
    assert login.status_code == 200
    assert client.post("/api/follow/alice", headers=bearer(login.json()["token"])
                       ).status_code == 201
    assert client.post("/api/follow/alice", headers=bearer(carol["token"])).status_code == 201

    reply = client.post("/api/posts", json={"text": "hello #chirp #HLD"},
                        headers={**bearer(alice["token"]), "x-request-id": "req-core-1"})
    assert reply.status_code == 201, reply.text
    assert reply.headers["x-request-id"] == "req-core-1"
    post = reply.json()
    assert (post["author"], post["text"], post["likes"]) == ("alice", "hello #chirp #HLD", 0)
    assert post["replicas_acked"] == 0  # WAIT ran; a lone server has no replica

    for reader in (bob, carol, alice):
        poll(lambda r=reader: home_ids(client, r["token"]) == [post["id"]], 10.0,
             "fan-out to home timeline")
    assert [p["id"] for p in client.get("/api/users/alice/posts").json()["posts"]] \
        == [post["id"]]
    profile = client.get("/api/users/alice").json()
    assert (profile["followers"], profile["following"], profile["posts"]) == (2, 0, 1)

    assert client.post(f"/api/posts/{post['id']}/like", headers=bearer(bob["token"])
                       ).json() == {"post_id": post["id"], "likes": 1, "new": True}
    again = client.post(f"/api/posts/{post['id']}/like", headers=bearer(bob["token"]))
    assert again.json() == {"post_id": post["id"], "likes": 1, "new": False}
    client.post(f"/api/posts/{post['id']}/like", headers=bearer(carol["token"]))
    assert client.get(f"/api/posts/{post['id']}").json()["likes"] == 2

    trending = client.get("/api/trending").json()
    assert {(t["tag"], t["uses"], t["authors"]) for t in trending["tags"]} \
        == {("chirp", 1, 1), ("hld", 1, 1)}

    fanouts = worker.events("fanout")
    assert [(r["request_id"], r["post_id"], r["mode"]) for r in fanouts] \
        == [("req-core-1", post["id"], "write")]
    requests = [r for r in chirp.app_proc.events("request") if r["request_id"] == "req-core-1"]
    assert [(r["route"], r["status"]) for r in requests] == [("/api/posts", 201)]

    assert client.delete("/api/follow/alice", headers=bearer(bob["token"])).status_code == 200
    assert client.get("/api/users/alice").json()["followers"] == 1


def test_celebrity_posts_are_merged_at_read_time_not_fanned_out(chirp: Chirp) -> None:
    chirp.configure(app={"fanout_read_threshold": 2})
    client, (worker,) = chirp.up(1)
    star = signup(client, "star")
    fans = [signup(client, f"fan{i}") for i in range(3)]
    small = signup(client, "small")
    for fan in fans:
        client.post("/api/follow/star", headers=bearer(fan["token"]))
    client.post("/api/follow/small", headers=bearer(fans[0]["token"]))

    star_post = client.post("/api/posts", json={"text": "big news"},
                            headers=bearer(star["token"])).json()
    small_post = client.post("/api/posts", json={"text": "small news"},
                             headers=bearer(small["token"])).json()
    poll(lambda: len(worker.events("fanout")) == 2, 10.0, "both posts handled")
    modes = {r["post_id"]: r["mode"] for r in worker.events("fanout")}
    assert modes == {star_post["id"]: "read", small_post["id"]: "write"}

    # the follower's home list holds only the ordinary author's post ...
    home_list = chirp.store.lrange(f"chirp:home:{fans[0]['user_id']}", 0, -1)
    assert home_list == [str(small_post["id"])]
    # ... and the celebrity's post is merged in when the timeline is read, newest first
    reply = client.get("/api/timeline", headers=bearer(fans[0]["token"])).json()
    assert [p["id"] for p in reply["posts"]] == [small_post["id"], star_post["id"]]
    assert reply["merged_celebrities"] == 1


def test_live_stream_pushes_a_new_post_to_a_follower(
        shared: tuple[Chirp, httpx.Client]) -> None:
    _, client = shared
    author, reader = signup(client, "author"), signup(client, "reader")
    client.post("/api/follow/author", headers=bearer(reader["token"]))
    received: list[dict[str, Any]] = []
    connected = threading.Event()

    def listen() -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=10.0) as sse, \
                sse.stream("GET", "/api/stream", headers=bearer(reader["token"])) as reply:
            assert reply.headers["content-type"].startswith("text/event-stream")
            for line in reply.iter_lines():
                if line.startswith(": connected"):
                    connected.set()
                if line.startswith("data: "):
                    received.append(json.loads(line.removeprefix("data: ")))
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert connected.wait(10.0)
    post = client.post("/api/posts", json={"text": "live!"}, headers={
        **bearer(author["token"]), "x-request-id": "req-live"}).json()
    thread.join(10.0)
    assert [(p["id"], p["text"], p["request_id"]) for p in received] \
        == [(post["id"], "live!", "req-live")]


def test_gateway_identity_headers_are_trusted(shared: tuple[Chirp, httpx.Client]) -> None:
    """Behind the gateway the caller is x-auth-subject; no token reaches the app."""
    _, client = shared
    signup(client, "gwuser")
    reply = client.post("/api/posts", json={"text": "via gateway"},
                        headers={"x-auth-subject": "gwuser", "x-auth-roles": "user"})
    assert reply.status_code == 201
    assert reply.json()["author"] == "gwuser"
    metrics = client.get("/metrics").text
    assert 'chirp_http_requests_total{method="POST",route="/api/posts",status="201"}' \
        in metrics


def test_logout_revokes_that_session_only(shared: tuple[Chirp, httpx.Client]) -> None:
    """A token whose session was deleted is refused with a JSON 401, though its signature
    and expiry are still good; the user's other sessions live on."""
    system, client = shared
    first = signup(client, "leaver")["token"]
    second = client.post("/api/login", json={"username": "leaver", "password": "password1"}
                         ).json()["token"]
    reply = client.post("/api/logout", headers=bearer(first))
    assert (reply.status_code, reply.json()) == (200, {"logged_out": "leaver"})
    for method, path in (("GET", "/api/timeline"), ("POST", "/api/posts"),
                         ("POST", "/api/logout")):
        refused = client.request(method, path, headers=bearer(first), json={"text": "x"})
        assert (refused.status_code, refused.json()) \
            == (401, {"error": "session revoked or expired: log in again", "status": 401})
    assert client.get("/api/timeline", headers=bearer(second)).status_code == 200
    assert [r["username"] for r in system.app_proc.events("logout")
            if r["username"] == "leaver"] == ["leaver"]


def test_a_token_must_agree_with_the_gateway_subject_and_logout_needs_a_token(
        shared: tuple[Chirp, httpx.Client]) -> None:
    _, client = shared
    token = signup(client, "honest")["token"]
    signup(client, "victim")
    forged = client.get("/api/timeline", headers={**bearer(token), "x-auth-subject": "victim"})
    assert (forged.status_code, forged.json()["error"]) \
        == (401, "the token's subject differs from x-auth-subject")
    headers_only = client.post("/api/logout", headers={"x-auth-subject": "honest"})
    assert headers_only.status_code == 401
    assert headers_only.json()["error"].startswith("log out with the session's token")
    assert client.post("/api/logout").status_code == 401


def test_following_backfills_recent_posts_and_unfollowing_removes_them(
        shared: tuple[Chirp, httpx.Client]) -> None:
    _, client = shared
    writer, reader = signup(client, "backfillw"), signup(client, "backfillr")
    ids = [client.post("/api/posts", json={"text": f"old {i}"},
                       headers=bearer(writer["token"])).json()["id"] for i in range(2)]
    client.post("/api/follow/backfillw", headers=bearer(reader["token"]))
    assert home_ids(client, reader["token"]) == ids[::-1]
    client.delete("/api/follow/backfillw", headers=bearer(reader["token"]))
    assert home_ids(client, reader["token"]) == []


def test_an_idle_keep_alive_connection_outlives_uvicorns_default_5_s(
        shared: tuple[Chirp, httpx.Client]) -> None:
    """The gateway reuses pooled connections; the app must not close them after 5 s idle
    (a close racing a reuse is a 502 for a POST). One socket, two requests 6 s apart."""
    _, client = shared
    host, port = client.base_url.host, client.base_url.port
    assert port is not None
    request = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    with socket.create_connection((host, port), timeout=10) as sock:
        for pause_s in (0.0, 6.0):
            time.sleep(pause_s)
            sock.sendall(request)
            head, body = read_http_response(sock)
            assert head.startswith(b"HTTP/1.1 200"), head[:100]
            assert b'"status":"ok"' in body

