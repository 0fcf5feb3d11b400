"""The fan-out worker: copies each new post into its author's followers' home timelines.

Consumes ``chirp:fanout`` in consumer group ``fanout`` (XREADGROUP with BLOCK, bounded
COUNT) and acknowledges a batch with one XACK once every message in it succeeded; a
message that failed stays pending. Every ``visibility_timeout_s / 2`` the worker runs
XAUTOCLAIM for entries idle longer than the visibility timeout, which is how the
messages of a crashed or stuck worker (its own, after a restart, included) are taken
over. XAUTOCLAIM counts a delivery; an entry claimed after ``max_deliveries`` failed
deliveries is poison and moves to ``chirp:fanout:dead`` with XADD + XACK in one MULTI
(the commands come from ``hld.core.stream.deadletter``), so it stops hurting workers.

Delivery is at least once: a worker killed between pushing and acknowledging leaves the
message pending, the next owner pushes it again, and home-timeline reads de-duplicate.
Authors above ``fanout_read_threshold`` followers are not fanned out (see
``hld.app.service``): the worker pushes the post only to the author's own home list and
publishes it on the author's live channel, where their followers' streams listen.

SIGTERM stops the loop between batches: the batch in hand is finished and acknowledged,
nothing is dropped; the longest wait is one XREADGROUP BLOCK.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import redis.exceptions
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from hld.app import keys
from hld.app.limits import FOLLOWERS_FANOUT_MAX, WORKER_BATCH_MAX, WORKER_BLOCK_MS
from hld.app.logs import JsonLog
from hld.app.settings import Settings
from hld.app.sql import Database
from hld.app.stores import Stores
from hld.core.stream.deadletter import dead_letter_commands
from hld.core.stream.ids import parse_id

RECLAIM_ROUNDS_MAX = 10   # XAUTOCLAIM pages per reclaim pass; the rest waits a pass
STORE_RETRY_S = 0.5       # pause after the store could not be reached (failover)

Entry = tuple[str, dict[str, str]]


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter("chirp_worker_messages_total", "Fan-out messages handled",
                                ["result"], registry=r)
        self.claimed = Counter("chirp_worker_claimed_total",
                               "Messages claimed from other (or crashed) consumers",
                               registry=r)
        self.pushes = Counter("chirp_worker_timeline_pushes_total",
                              "Post ids pushed into home timelines", registry=r)
        self.seconds = Histogram("chirp_worker_message_seconds", "Time to fan out a post",
                                 registry=r, buckets=(.001, .005, .01, .05, .1, .5, 1, 5))
        self.pending = Gauge("chirp_worker_group_pending",
                             "Messages delivered but not yet acknowledged", registry=r)
        self.lag = Gauge("chirp_worker_group_lag", "Messages not yet delivered to the group",
                         registry=r)


class FanoutWorker:
    """One consumer of the fan-out group."""

    def __init__(self, settings: Settings, consumer: str, db: Database, stores: Stores,
                 *, log: JsonLog, metrics: WorkerMetrics, delay_s: float = 0.0) -> None:
        self.settings = settings
        self.consumer = consumer
        self.db = db
        self.stores = stores
        self.log = log
        self.metrics = metrics
        self.delay_s = delay_s  # fault injection: a slow worker (tests, demos)
        self.batch = min(settings.batch, WORKER_BATCH_MAX)
        self.visibility_ms = int(settings.visibility_timeout_s * 1000)

    async def ensure_group(self) -> None:
        try:
            await self.stores.primary.xgroup_create(keys.FANOUT_STREAM, keys.FANOUT_GROUP,
                                                    id="0", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self, stop: asyncio.Event) -> None:
        self.log("worker_started", consumer=self.consumer, batch=self.batch,
                 visibility_timeout_s=self.settings.visibility_timeout_s,
                 max_deliveries=self.settings.max_deliveries)
        loop = asyncio.get_running_loop()
        next_reclaim = 0.0
        group_ready = False
        while not stop.is_set():
            try:
                if not group_ready:
                    await self.ensure_group()
                    group_ready = True
                if loop.time() >= next_reclaim:
                    next_reclaim = loop.time() + self.settings.visibility_timeout_s / 2
                    await self.reclaim()
                    await self.observe_group()
                reply: Any = await self.stores.primary.xreadgroup(
                    keys.FANOUT_GROUP, self.consumer, {keys.FANOUT_STREAM: ">"},
                    count=self.batch, block=WORKER_BLOCK_MS)
                entries: list[Entry] = reply[0][1] if reply else []
                await self.handle(entries)
            except redis.exceptions.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                group_ready = False  # the stream was recreated (fresh store)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                    redis.exceptions.ReadOnlyError) as exc:
                self.log("store_unavailable", level="warning", error=str(exc))
                group_ready = False
                await asyncio.sleep(STORE_RETRY_S)
        self.log("worker_stopped", consumer=self.consumer)

    async def handle(self, entries: list[Entry]) -> None:
        """Fan out each entry; acknowledge, in one XACK, those that succeeded."""
        done = []
        for message_id, fields in entries:
            started = time.perf_counter()
            try:
                await self.fan_out(message_id, fields)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                raise  # the store is gone: everything unacknowledged stays pending
            except Exception as exc:  # noqa: BLE001 (a bad message must not stop the worker)
                self.metrics.messages.labels("failed").inc()
                self.log("fanout_failed", level="error", message_id=message_id,
                         request_id=fields.get("request_id", ""), error=repr(exc))
                continue
            self.metrics.seconds.observe(time.perf_counter() - started)
            self.metrics.messages.labels("ok").inc()
            done.append(message_id)
        if done:
            await self.stores.primary.xack(keys.FANOUT_STREAM, keys.FANOUT_GROUP, *done)

    async def fan_out(self, message_id: str, fields: dict[str, str]) -> None:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        post_id = int(fields["post_id"])
        author_id = int(fields["author_id"])
        request_id = fields.get("request_id", "")
        payload = json.dumps({"id": post_id, "author_id": author_id,
                              "author": fields.get("author", ""),
                              "text": fields.get("text", ""),
                              "created_at": float(fields.get("created_at", "0")),
                              "request_id": request_id})
        limit = min(self.settings.fanout_read_threshold, FOLLOWERS_FANOUT_MAX)
        followers = await self.db.followers(author_id, limit + 1)
        celebrity = len(followers) > limit
        targets = [author_id] if celebrity else [author_id, *followers]
        length = self.settings.timeline_length
        async with self.stores.primary.pipeline(transaction=False) as pipe:
            for uid in targets:
                pipe.lpush(keys.home(uid), post_id)
                pipe.ltrim(keys.home(uid), 0, length - 1)
                pipe.publish(keys.live(uid), payload)
            if celebrity:
                pipe.publish(keys.live_author(author_id), payload)
            await pipe.execute()
        self.metrics.pushes.inc(len(targets))
        self.log("fanout", request_id=request_id, message_id=message_id, post_id=post_id,
                 mode="read" if celebrity else "write",
                 followers=len(followers) if not celebrity else f">{limit}")

    async def reclaim(self) -> None:
        """Take over entries idle past the visibility timeout; dead-letter the poison."""
        start = "0-0"
        for _ in range(RECLAIM_ROUNDS_MAX):
            reply = await self.stores.primary.xautoclaim(
                keys.FANOUT_STREAM, keys.FANOUT_GROUP, self.consumer,
                min_idle_time=self.visibility_ms, start_id=start, count=self.batch)
            start, claimed = str(reply[0]), [e for e in reply[1] if e and e[1] is not None]
            if claimed:
                self.metrics.claimed.inc(len(claimed))
                counts = await self.delivery_counts([m for m, _ in claimed])
                retry = []
                for message_id, fields in claimed:
                    deliveries = counts.get(message_id, 1)
                    # the claim itself is a delivery: deliveries - 1 attempts have failed
                    if deliveries - 1 >= self.settings.max_deliveries:
                        await self.dead_letter(message_id, fields, deliveries - 1)
                    else:
                        retry.append((message_id, fields))
                self.log("claimed", count=len(claimed), retried=len(retry),
                         dead=len(claimed) - len(retry))
                await self.handle(retry)
            if start in ("0-0", "0"):
                return

    async def delivery_counts(self, ids: list[str]) -> dict[str, int]:
        rows = await self.stores.primary.xpending_range(
            keys.FANOUT_STREAM, keys.FANOUT_GROUP, min=min(ids, key=_id_key),
            max=max(ids, key=_id_key), count=len(ids) * 2 + 10, consumername=self.consumer)
        return {str(row["message_id"]): int(row["times_delivered"]) for row in rows}

    async def dead_letter(self, message_id: str, fields: dict[str, str],
                          failed: int) -> None:
        commands = dead_letter_commands(
            source_stream=keys.FANOUT_STREAM.encode(), group=keys.FANOUT_GROUP.encode(),
            dead_stream=keys.DEAD_STREAM.encode(), entry_id=parse_id(message_id.encode()),
            fields=tuple(part.encode() for kv in fields.items() for part in kv),
            delivery_count=failed)
        async with self.stores.primary.pipeline(transaction=True) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            await pipe.execute()
        self.metrics.messages.labels("dead").inc()
        self.log("dead_lettered", level="error", message_id=message_id,
                 request_id=fields.get("request_id", ""), deliveries=failed)

    async def observe_group(self) -> None:
        with contextlib.suppress(redis.exceptions.ResponseError):
            groups: list[dict[str, Any]] = await self.stores.primary.xinfo_groups(
                keys.FANOUT_STREAM)
            for group in groups:
                if group.get("name") == keys.FANOUT_GROUP:
                    self.metrics.pending.set(int(group.get("pending") or 0))
                    lag = group.get("lag")
                    if lag is not None:
                        self.metrics.lag.set(int(lag))


def _id_key(message_id: str) -> tuple[int, int]:
    ms, _, seq = message_id.partition("-")
    return int(ms), int(seq or 0)
