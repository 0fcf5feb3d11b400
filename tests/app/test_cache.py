"""The cache node and the store as the app sees them: write policies, a dead cache node,
and store addresses that change at run time (failover)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from tests.app.conftest import Chirp, bearer, poll, signup
from tests.store.store_process import running

pytestmark = pytest.mark.blackbox

POLICIES = ("cache-aside", "write-through", "write-around")


def cached(chirp: Chirp, key: str) -> dict | None:  # type: ignore[type-arg]
    value = chirp.cache.get(key)
    return json.loads(value) if value is not None else None


def test_write_policies_decide_what_the_cache_node_holds_after_a_write(chirp: Chirp) -> None:
    """After a follow and a post, by policy: cache-aside dropped the cached copies,
    write-through refreshed them, write-around left the stale copy for its TTL."""
    started = {policy: chirp.launch_app("--write-policy", policy) for policy in POLICIES}
    for proc, client in started.values():
        chirp.wait_app(proc, client)
    seen: dict[str, tuple[object, ...]] = {}
    for policy, (_, client) in started.items():
        prefix = policy.replace("-", "")[:8]
        star, fan = signup(client, f"{prefix}s"), signup(client, f"{prefix}f")
        key = f"chirp:cache:user:{prefix}s"
        assert client.get(f"/api/users/{prefix}s").json()["followers"] == 0
        assert cached(chirp, key)["followers"] == 0  # type: ignore[index]  # filled on read
        client.post(f"/api/follow/{prefix}s", headers=bearer(fan["token"]))
        after_follow = cached(chirp, key)
        post = client.post("/api/posts", json={"text": "cached?"},
                           headers=bearer(star["token"])).json()
        post_key = f"chirp:cache:post:{post['id']}"
        post_after_write = cached(chirp, post_key)
        served = client.get(f"/api/users/{prefix}s").json()["followers"]
        assert client.get(f"/api/posts/{post['id']}").json()["text"] == "cached?"
        seen[policy] = (after_follow and after_follow["followers"],
                        post_after_write and post_after_write["text"], served,
                        cached(chirp, post_key) is not None)
    assert seen == {
        "cache-aside": (None, None, 1, True),
        "write-through": (1, "cached?", 1, True),
        "write-around": (0, None, 0, True),
    }


def test_the_cache_node_down_is_a_miss_not_an_error(chirp: Chirp) -> None:
    """... and a replica that is down sends trending reads back to the primary."""
    client = chirp.app("--cache", "redis://127.0.0.1:1", "--replica", "redis://127.0.0.1:1")
    user = signup(client, "nocache")
    assert client.get("/api/users/nocache").json()["username"] == "nocache"
    health = client.get("/healthz")
    assert (health.status_code, health.json()["cache"].startswith("down")) == (200, True)
    assert client.post("/api/posts", json={"text": "still #works"},
                       headers=bearer(user["token"])).status_code == 201
    assert client.get("/api/trending").json()["tags"] == [
        {"tag": "works", "uses": 1, "authors": 1}]


def test_a_post_is_acknowledged_once_the_replica_has_it(
        chirp: Chirp, tmp_path: Path) -> None:
    """WAIT 1: the 201 means the replica holds the post's fan-out message, so a failover
    to that replica keeps it; trending is then read from the replica."""
    chirp.configure(store={"wait_replicas": 1, "wait_timeout_ms": 5000})
    with running(tmp_path / "replica", "--replicaof", "127.0.0.1",
                 str(chirp.store_port)) as replica:
        poll(lambda: replica.client().info("replication").get("master_link_status") == "up",
             15.0, "replica in sync")
        client = chirp.app("--replica", f"redis://127.0.0.1:{replica.port}")
        user = signup(client, "durable")
        post = client.post("/api/posts", json={"text": "keep me #safe"},
                           headers=bearer(user["token"])).json()
        assert post["replicas_acked"] == 1
        with replica.client(decode_responses=True) as r:
            assert [f["post_id"] for _, f in r.xrange("chirp:fanout")] == [str(post["id"])]
        assert client.get("/api/trending").json()["tags"] == [
            {"tag": "safe", "uses": 1, "authors": 1}]


def test_a_new_topology_repoints_the_app_to_another_store(
        chirp: Chirp, redis_store: int) -> None:
    """What failover does: topology.json names a new primary; the app follows it."""
    client = chirp.app()
    signup(client, "before")
    topology = chirp.dir / "data" / "topology.json"
    tmp = topology.with_suffix(".tmp")
    tmp.write_text(json.dumps({"store_primary": f"127.0.0.1:{redis_store}",
                               "cache": f"127.0.0.1:{chirp.cache_port}"}))
    tmp.replace(topology)
    poll(lambda: client.get("/healthz").json()["topology"]["store_primary"]
         == f"redis://127.0.0.1:{redis_store}", 10.0, "repointed")
    with redis.Redis(port=redis_store, decode_responses=True) as new_primary:
        new_primary.flushall()
        signup(client, "after")  # its session is recorded in the new primary
        assert [new_primary.get(k) for k in new_primary.keys("chirp:session:*")] == ["after"]
    assert [r["event"] for r in chirp.app_proc.events("topology_changed")] \
        == ["topology_changed"]
