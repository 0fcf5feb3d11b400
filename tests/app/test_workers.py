"""Fan-out workers: crashed workers' messages are claimed, poison is dead-lettered,
SIGTERM finishes the batch in hand."""

from __future__ import annotations

import httpx
import pytest
import redis

from tests.app.conftest import Chirp, bearer, poll, signup
from tests.support import free_port

pytestmark = pytest.mark.blackbox

STREAM, GROUP, DEAD = "chirp:fanout", "fanout", "chirp:fanout:dead"


def pending_by_consumer(chirp: Chirp) -> dict[str, int]:
    try:
        summary = chirp.store.xpending(STREAM, GROUP)
    except redis.ResponseError:  # no worker has created the group yet
        return {}
    return {c["name"]: int(c["pending"]) for c in summary["consumers"]}


def author_and_follower(client: httpx.Client, prefix: str) -> tuple[dict, dict]:  # type: ignore[type-arg]
    author, follower = signup(client, f"{prefix}a"), signup(client, f"{prefix}f")
    client.post(f"/api/follow/{prefix}a", headers=bearer(follower["token"]))
    return author, follower


def test_a_killed_workers_messages_are_claimed_by_another(chirp: Chirp) -> None:
    chirp.configure(workers={"visibility_timeout_s": 1.0, "batch": 10})
    client = chirp.app()
    author, follower = author_and_follower(client, "kill")
    ids = [client.post("/api/posts", json={"text": f"post {i}"},
                       headers=bearer(author["token"])).json()["id"] for i in range(3)]
    # a worker so slow that it holds the whole batch unacknowledged when it dies
    slow = chirp.worker(1, "--delay-ms", "20000")
    poll(lambda: pending_by_consumer(chirp).get("worker-1") == 3, 10.0, "batch delivered")
    slow.kill9()

    metrics_port = free_port()
    rescuer = chirp.worker(2, "--metrics-port", str(metrics_port))
    home = f"chirp:home:{follower['user_id']}"
    poll(lambda: sorted(map(int, chirp.store.lrange(home, 0, -1))) == ids, 15.0,
         "claimed messages fanned out")
    poll(lambda: chirp.store.xpending(STREAM, GROUP)["pending"] == 0, 5.0, "all acked")
    assert sum(r["count"] for r in rescuer.events("claimed")) == 3
    assert sorted(r["post_id"] for r in rescuer.events("fanout")) == ids
    metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    assert "chirp_worker_claimed_total 3.0" in metrics
    assert 'chirp_worker_messages_total{result="ok"} 3.0' in metrics


def test_a_poison_message_goes_to_the_dead_letter_stream(
        shared: tuple[Chirp, httpx.Client]) -> None:
    """max_deliveries is 3 in the shared system: three failures, then the dead stream."""
    chirp, _ = shared
    poison_id = chirp.store.xadd(STREAM, {"post_id": "not-a-number", "author_id": "1",
                                          "request_id": "req-poison"})
    dead = poll(lambda: chirp.store.xrange(DEAD), 20.0, "dead-lettered")
    assert [(fields["post_id"], fields["dlq-source-id"], fields["dlq-source-stream"],
             fields["dlq-deliveries"]) for _, fields in dead] \
        == [("not-a-number", poison_id, STREAM, "3")]
    poll(lambda: chirp.store.xpending(STREAM, GROUP)["pending"] == 0, 5.0, "acked")


def test_sigterm_finishes_and_acknowledges_the_batch_in_hand(chirp: Chirp) -> None:
    client = chirp.app()
    author, follower = author_and_follower(client, "term")
    ids = [client.post("/api/posts", json={"text": f"post {i}"},
                       headers=bearer(author["token"])).json()["id"] for i in range(3)]
    worker = chirp.worker(1, "--delay-ms", "800")
    poll(lambda: pending_by_consumer(chirp).get("worker-1") == 3, 10.0, "batch delivered")
    assert worker.stop() == 0
    assert chirp.store.xpending(STREAM, GROUP)["pending"] == 0
    home = f"chirp:home:{follower['user_id']}"
    assert sorted(map(int, chirp.store.lrange(home, 0, -1))) == ids
    assert [r["event"] for r in worker.log_lines()][-1] == "worker_stopped"
