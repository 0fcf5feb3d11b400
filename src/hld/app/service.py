"""chirp's behaviour: sign-up, follows, posts, likes, timelines and trending.

Where each thing lives, and why:

* SQL holds the truth: users, follows, posts, in transactions; a unique constraint turns
  a duplicate sign-up into 409.
* The store primary holds what is derived and hot: home and user timelines (lists of
  post ids), like counters, sessions, trending buckets, the fan-out stream, live channels.
* The cache node holds profiles and posts as JSON, cache-aside with a TTL. Writes follow
  the configured policy: ``cache-aside`` deletes the cached copy (the next read reloads
  it), ``write-through`` stores the new copy, ``write-around`` leaves the cache alone (a
  stale copy lives until its TTL). A cache node that is down is a miss, never an error.

Home timelines: fan-out on write, except for celebrities. A post is written to SQL,
pushed onto the author's user timeline, and announced on the ``chirp:fanout`` stream;
the post is acknowledged (201) only after ``WAIT`` on the primary so that an
acknowledged post survives a failover to the replica. Workers copy the post id into each
follower's home list. That makes reading a home timeline one LRANGE, at the cost of one
write per follower, which is ruinous for an author with a million followers (the
roadmap's celebrity problem). So authors with more than ``fanout_read_threshold``
followers are not fanned out: a reader's home timeline merges, at read time, the recent
posts of the celebrities they follow (one LRANGE each, at most
``CELEBRITIES_MERGED_MAX``). Writes stay bounded for everyone; reads pay a little for
following celebrities. Delivery to home lists is at least once (a redelivered message
may push an id twice), so reads de-duplicate.

Trending: each hashtag use increments the tag in a per-minute sorted set; trending reads
the top ``TRENDING_BUCKET_TOP`` of each of the last ``TRENDING_WINDOW_MIN`` buckets and
adds them up. Exact within a minute, approximate over the window: a tag that never makes
a minute's top 100 is under-counted (a heavy-hitters approximation whose read cost is
bounded by window times top, whatever the traffic). Each tag's distinct authors are counted
approximately with per-minute HyperLogLogs (PFADD, and PFCOUNT over the window's keys),
so a single spammer is visible as many uses by one author.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.exceptions

from hld.app import keys
from hld.app.auth import Tokens, check_password, hash_password, new_salt
from hld.app.limits import (
    CELEBRITIES_MERGED_MAX,
    FANOUT_STREAM_MAXLEN,
    HASHTAGS_PER_POST_MAX,
    PASSWORD_CHARS_MAX,
    PASSWORD_CHARS_MIN,
    POST_TEXT_CHARS_MAX,
    TRENDING_BUCKET_TOP,
    TRENDING_BUCKET_TTL_S,
    TRENDING_RESULTS_MAX,
    TRENDING_WINDOW_MIN,
    USER_POSTS_KEPT,
    USERNAME_PATTERN,
)
from hld.app.logs import JsonLog
from hld.app.metrics import AppMetrics
from hld.app.settings import Settings
from hld.app.sql import ConflictError, Database, Post
from hld.app.stores import Stores

_USERNAME = re.compile(USERNAME_PATTERN)
BACKFILL_ATTEMPTS_MAX = 3  # WATCH conflicts with workers before a follow skips backfill
_HASHTAG = re.compile(r"#(\w{1,50})")


class ApiError(Exception):
    """An answer other than success: HTTP status and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def hashtags(text: str) -> list[str]:
    """The distinct hashtags of ``text``, lower-cased, in order, at most 10."""
    seen: dict[str, None] = {}
    for match in _HASHTAG.finditer(text):
        seen.setdefault(match.group(1).lower(), None)
    return list(seen)[:HASHTAGS_PER_POST_MAX]


def check_username(username: object) -> str:
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise ApiError(422, "username must be 3-20 characters of a-z, 0-9 and _")
    return username


def check_password_rule(password: object) -> str:
    if not isinstance(password, str) or not (
            PASSWORD_CHARS_MIN <= len(password) <= PASSWORD_CHARS_MAX):
        raise ApiError(422, f"password must be a string of {PASSWORD_CHARS_MIN}-"
                            f"{PASSWORD_CHARS_MAX} characters")
    return password


@dataclass(frozen=True, slots=True)
class Profile:
    user_id: int
    username: str
    created_at: float
    followers: int
    following: int
    posts: int

    def as_json(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "username": self.username,
                "created_at": self.created_at, "followers": self.followers,
                "following": self.following, "posts": self.posts}


class Chirp:
    """The application, over one Database and the Stores."""

    def __init__(self, settings: Settings, db: Database, stores: Stores, *, tokens: Tokens,
                 metrics: AppMetrics, log: JsonLog) -> None:
        self.settings = settings
        self.db = db
        self.stores = stores
        self.tokens = tokens
        self.metrics = metrics
        self.log = log

    # -- cache plumbing ------------------------------------------------------------------

    async def _cache_get(self, kind: str, names: list[str]) -> list[str | None]:
        if not names:
            return []
        try:
            values = [v if isinstance(v, str) else None
                      for v in await self.stores.cache.mget(names)]
        except redis.exceptions.RedisError as exc:
            self.log("cache_unavailable", level="warning", error=str(exc))
            values = [None] * len(names)
        for value in values:
            self.metrics.cache.labels(kind, "hit" if value is not None else "miss").inc()
        return values

    async def _cache_fill(self, items: dict[str, str]) -> None:
        if not items:
            return
        ttl = max(1, int(self.settings.cache_ttl_s))
        try:
            async with self.stores.cache.pipeline(transaction=False) as pipe:
                for name, value in items.items():
                    pipe.set(name, value, ex=ttl)
                await pipe.execute()
        except redis.exceptions.RedisError as exc:
            self.log("cache_unavailable", level="warning", error=str(exc))

    async def _cache_write(self, name: str, fresh: Callable[[], Awaitable[str]]) -> None:
        """Apply the write policy to one cached object that just changed in SQL."""
        policy = self.settings.write_policy
        try:
            if policy == "cache-aside":
                await self.stores.cache.delete(name)
            elif policy == "write-through":
                await self._cache_fill({name: await fresh()})
            # write-around: SQL only; the cached copy (if any) lives until its TTL
        except redis.exceptions.RedisError as exc:
            self.log("cache_unavailable", level="warning", error=str(exc))

    # -- users ---------------------------------------------------------------------------

    async def signup(self, username: object, password: object) -> dict[str, Any]:
        name = check_username(username)
        secret = check_password_rule(password)
        salt = new_salt()
        digest = await asyncio.to_thread(hash_password, secret, salt)
        try:
            uid = await self.db.create_user(name, digest, salt)
        except ConflictError:
            raise ApiError(409, f"username {name!r} is taken") from None
        await self._profile_changed(name)
        token = await self._session(name, uid)
        return {"user_id": uid, "username": name, "token": token}

    async def login(self, username: object, password: object) -> dict[str, Any]:
        if not isinstance(username, str) or not isinstance(password, str) \
                or len(password) > PASSWORD_CHARS_MAX:
            raise ApiError(401, "wrong username or password")
        user = await self.db.user_by_name(username)
        if user is None or not await asyncio.to_thread(
                check_password, password, user.salt, user.password_hash):
            raise ApiError(401, "wrong username or password")
        return {"token": await self._session(user.username, user.id),
                "user_id": user.id, "username": user.username}

    async def _session(self, username: str, uid: int) -> str:
        token, jti = self.tokens.issue(username, uid)
        await self.stores.primary.set(keys.session(jti), username,
                                      ex=max(1, int(self.tokens.ttl_s)))
        return token

    async def session_alive(self, jti: str, username: str) -> bool:
        """Whether session ``jti`` still exists in the store and belongs to ``username``.

        One GET on the primary per authenticated request: revocation is immediate on every
        app server, at the price of a store round trip (local, sub-millisecond).
        """
        return bool(await self.stores.primary.get(keys.session(jti)) == username)

    async def logout(self, jti: str) -> bool:
        """Revoke session ``jti``; True if it existed (tokens naming it are refused)."""
        return bool(await self.stores.primary.delete(keys.session(jti)))

    async def _load_profile(self, username: str) -> Profile | None:
        user = await self.db.user_by_name(username)
        if user is None:
            return None
        followers, following, posts = await self.db.counts(user.id)
        return Profile(user.id, user.username, user.created_at, followers, following, posts)

    async def profile(self, username: str) -> Profile:
        if not _USERNAME.fullmatch(username):  # cannot exist: spare the cache and SQL
            raise ApiError(404, f"no user named {username[:40]!r}")
        (cached,) = await self._cache_get("user", [keys.cached_user(username)])
        if cached is not None:
            data = json.loads(cached)
            if isinstance(data, dict):
                return Profile(**data)
        profile = await self._load_profile(username)
        if profile is None:
            raise ApiError(404, f"no user named {username!r}")
        await self._cache_fill({keys.cached_user(username): json.dumps(profile.as_json())})
        return profile

    async def _profile_changed(self, username: str) -> None:
        async def fresh() -> str:
            profile = await self._load_profile(username)
            return json.dumps(profile.as_json() if profile else None)

        await self._cache_write(keys.cached_user(username), fresh)

    async def user_id(self, username: str) -> int:
        return (await self.profile(username)).user_id

    # -- follows -------------------------------------------------------------------------

    async def follow(self, me: str, target: str) -> dict[str, Any]:
        if me == target:
            raise ApiError(422, "you cannot follow yourself")
        my_id, their_id = await self.user_id(me), await self.user_id(target)
        created = await self.db.follow(my_id, their_id)
        if created:
            await self._profile_changed(me)
            await self._profile_changed(target)
            await self._backfill(my_id, their_id)
        return {"following": target, "created": created}

    async def _backfill(self, my_id: int, their_id: int) -> None:
        """Merge a newly followed author's recent posts into my home list.

        The list is rewritten in id order under WATCH, so a worker's LPUSH landing
        meanwhile aborts the rewrite (retried) instead of being lost. Celebrities are
        skipped: their posts are merged at read time anyway.
        """
        followers, _, _ = await self.db.counts(their_id)
        if followers > self.settings.fanout_read_threshold:
            return
        home, length = keys.home(my_id), self.settings.timeline_length
        async with self.stores.primary.pipeline(transaction=True) as pipe:
            for _ in range(BACKFILL_ATTEMPTS_MAX):
                try:
                    await pipe.watch(home)
                    mine = await pipe.lrange(home, 0, -1)
                    theirs = await pipe.lrange(keys.user_posts(their_id), 0, length - 1)
                    if not theirs:
                        await pipe.unwatch()  # type: ignore[no-untyped-call]
                        return
                    merged = sorted({int(i) for i in [*mine, *theirs]}, reverse=True)[:length]
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.delete(home)
                    pipe.rpush(home, *merged)
                    await pipe.execute()
                except redis.exceptions.WatchError:
                    continue
                else:
                    return
        self.log("backfill_gave_up", level="warning", user_id=my_id, author_id=their_id)

    async def unfollow(self, me: str, target: str) -> dict[str, Any]:
        my_id, their_id = await self.user_id(me), await self.user_id(target)
        if not await self.db.unfollow(my_id, their_id):
            raise ApiError(404, f"you do not follow {target!r}")
        primary = self.stores.primary
        theirs = await primary.lrange(keys.user_posts(their_id), 0, USER_POSTS_KEPT - 1)
        if theirs:  # their posts leave my home list (older ones have aged out of it)
            async with primary.pipeline(transaction=False) as pipe:
                for post_id in theirs:
                    pipe.lrem(keys.home(my_id), 0, str(post_id))
                await pipe.execute()
        await self._profile_changed(me)
        await self._profile_changed(target)
        return {"unfollowed": target}

    # -- posts ---------------------------------------------------------------------------

    async def create_post(self, me: str, text: object, request_id: str) -> dict[str, Any]:
        if not isinstance(text, str) or not text.strip():
            raise ApiError(422, "text must be a non-empty string")
        if len(text) > POST_TEXT_CHARS_MAX:
            raise ApiError(422, f"text has {len(text)} characters; at most "
                                f"{POST_TEXT_CHARS_MAX} are allowed")
        uid = await self.user_id(me)
        now = time.time()
        post_id = await self.db.create_post(uid, text, now)
        post = Post(post_id, uid, me, text, now)
        await self._cache_write(keys.cached_post(post_id),
                                lambda: _const(json.dumps(post.as_json())))
        minute = int(now // 60)
        primary = self.stores.primary
        async with primary.pipeline(transaction=False) as pipe:
            pipe.lpush(keys.user_posts(uid), post_id)
            pipe.ltrim(keys.user_posts(uid), 0, USER_POSTS_KEPT - 1)
            for tag in hashtags(text):
                pipe.zincrby(keys.trend(minute), 1, tag)
                pipe.pfadd(keys.trend_authors(tag, minute), str(uid))
                pipe.expire(keys.trend_authors(tag, minute), TRENDING_BUCKET_TTL_S)
            pipe.expire(keys.trend(minute), TRENDING_BUCKET_TTL_S)
            pipe.xadd(keys.FANOUT_STREAM, {
                "post_id": str(post_id), "author_id": str(uid), "author": me, "text": text,
                "created_at": repr(now), "request_id": request_id},
                maxlen=FANOUT_STREAM_MAXLEN, approximate=True)
            await pipe.execute()
        replicas = await self._wait_replicas()
        await self._profile_changed(me)
        self.metrics.posts.inc()
        self.log("post_created", request_id=request_id, post_id=post_id, author=me,
                 replicas=replicas)
        return {**post.as_json(), "likes": 0, "replicas_acked": replicas}

    async def _wait_replicas(self) -> int:
        """WAIT for the configured replicas; the count that acknowledged (-1: not asked)."""
        wanted = self.settings.wait_replicas
        if wanted <= 0:
            return -1
        acked = int(await self.stores.primary.execute_command(  # type: ignore[no-untyped-call]
            "WAIT", wanted, self.settings.wait_timeout_ms))
        if acked < wanted:
            self.metrics.wait_short.inc()
        return acked

    async def posts(self, ids: list[int]) -> list[dict[str, Any]]:
        """Posts by id, in the order given, with like counts; unknown ids are skipped."""
        cached = await self._cache_get("post", [keys.cached_post(i) for i in ids])
        found: dict[int, dict[str, Any]] = {}
        missing = []
        for post_id, value in zip(ids, cached, strict=True):
            if value is not None:
                found[post_id] = json.loads(value)
            else:
                missing.append(post_id)
        if missing:
            loaded = await self.db.posts(missing)
            fill = {}
            for post_id, post in loaded.items():
                found[post_id] = post.as_json()
                fill[keys.cached_post(post_id)] = json.dumps(found[post_id])
            await self._cache_fill(fill)
        order = [i for i in ids if i in found]
        counts = await self.stores.primary.mget([keys.likes(i) for i in order]) if order \
            else []
        return [{**found[i], "likes": int(c or 0)} for i, c in zip(order, counts, strict=True)]

    async def like(self, me: str, post_id: int) -> dict[str, Any]:
        uid = await self.user_id(me)
        if not await self.posts([post_id]):
            raise ApiError(404, f"no post with id {post_id}")
        primary = self.stores.primary
        added = await primary.sadd(keys.likers(post_id), str(uid))
        # SADD first makes the like idempotent: only the first like of a user counts
        likes = await primary.incr(keys.likes(post_id)) if added else \
            int(await primary.get(keys.likes(post_id)) or 0)
        return {"post_id": post_id, "likes": likes, "new": bool(added)}

    # -- timelines -----------------------------------------------------------------------

    async def user_timeline(self, username: str, limit: int) -> list[dict[str, Any]]:
        uid = await self.user_id(username)
        ids = [int(i) for i in await self.stores.primary.lrange(keys.user_posts(uid), 0,
                                                                limit - 1)]
        if not ids:  # a store that lost its data (failover) must not hide posts
            ids = await self.db.recent_post_ids(uid, limit)
        return await self.posts(ids)

    async def home_timeline(self, me: str, limit: int) -> dict[str, Any]:
        uid = await self.user_id(me)
        celebrities = await self.db.followed_celebrities(
            uid, self.settings.fanout_read_threshold, CELEBRITIES_MERGED_MAX)
        async with self.stores.primary.pipeline(transaction=False) as pipe:
            pipe.lrange(keys.home(uid), 0, limit - 1)
            for celebrity in celebrities:
                pipe.lrange(keys.user_posts(celebrity), 0, limit - 1)
            lists = await pipe.execute()
        self.metrics.celebrity_merges.inc(len(celebrities))
        # post ids grow with time, so newest-first is descending id; a set de-duplicates
        # redelivered fan-outs and celebrity posts that were fanned out before the author
        # crossed the threshold
        ids = sorted({int(i) for ids in lists for i in ids}, reverse=True)[:limit]
        return {"posts": await self.posts(ids), "merged_celebrities": len(celebrities)}

    async def live_channels(self, me: str) -> list[str]:
        """Channels a live stream of ``me``'s home timeline subscribes to."""
        uid = await self.user_id(me)
        celebrities = await self.db.followed_celebrities(
            uid, self.settings.fanout_read_threshold, CELEBRITIES_MERGED_MAX)
        return [keys.live(uid), *(keys.live_author(c) for c in celebrities)]

    # -- trending ------------------------------------------------------------------------

    async def trending(self, now: float) -> dict[str, Any]:
        """Top hashtags of the window; read from the replica when there is one.

        Trending tolerates replication lag, so it is the read that the replica takes off
        the primary; a replica that cannot answer falls back to the primary.
        """
        replica = self.stores.replica
        if replica is not None:
            try:
                return await self._trending(replica, now)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
                self.log("replica_unavailable", level="warning", error=str(exc))
        return await self._trending(self.stores.primary, now)

    @staticmethod
    async def _trending(client: Any, now: float) -> dict[str, Any]:
        minute = int(now // 60)
        minutes = range(minute - TRENDING_WINDOW_MIN + 1, minute + 1)
        async with client.pipeline(transaction=False) as pipe:
            for m in minutes:
                pipe.zrevrange(keys.trend(m), 0, TRENDING_BUCKET_TOP - 1, withscores=True)
            buckets = await pipe.execute()
        totals: dict[str, float] = {}
        for bucket in buckets:
            for tag, score in bucket:
                totals[tag] = totals.get(tag, 0.0) + float(score)
        top = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:TRENDING_RESULTS_MAX]
        async with client.pipeline(transaction=False) as pipe:
            for tag, _ in top:
                pipe.pfcount(*(keys.trend_authors(tag, m) for m in minutes))
            authors = await pipe.execute() if top else []
        return {"window_min": TRENDING_WINDOW_MIN,
                "tags": [{"tag": tag, "uses": int(uses), "authors": int(n)}
                         for (tag, uses), n in zip(top, authors, strict=True)]}


async def _const(value: str) -> str:
    return value
