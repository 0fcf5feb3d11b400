"""chirp's HTTP API (Starlette): routes, identity, bounded JSON bodies, JSON errors, SSE.

Identity: the app listens on loopback behind the gateway, which verifies the JWT and
passes the identity in ``x-auth-subject`` (the username) and ``x-auth-roles``, stripping
any copies a client sent, and forwards the ``Authorization`` header. Whenever a Bearer
token is present (always, for chirp's own tokens) the app verifies it too and requires
its session (``chirp:session:{jti}``, created at sign-up/login) to exist in the store:
``POST /api/logout`` deletes the session, so the token is refused (401) from then on,
on every app server, although its signature and expiry are still good. A gateway
subject that disagrees with the token is refused. Requests with only the gateway's
headers (an identity the gateway established some other way; direct use in tests) are
trusted as they are. Do not expose the app's port beyond loopback: anyone who can
reach it can claim any identity in those headers.

Every request gets the gateway's ``x-request-id`` (or a new one), echoed in the response,
written on its log line and carried as a field of the fan-out stream entry, which the
store logs (at its ``verbose`` level, see ``hld.store.logs``) and the worker logs when it
fans the post out; a real redis-server just keeps the field. Errors are
``{"error": message, "status": code}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import redis.exceptions
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hld.app.auth import Tokens
from hld.app.limits import (
    BODY_BYTES_MAX,
    SSE_CLIENTS_MAX,
    SSE_HEARTBEAT_S,
    SSE_RETRY_MS,
    TIMELINE_LIMIT_DEFAULT,
    TIMELINE_LIMIT_MAX,
    USERNAME_PATTERN,
)
from hld.app.logs import JsonLog
from hld.app.metrics import AppMetrics
from hld.app.service import ApiError, Chirp
from hld.app.settings import Settings, Topology, jwt_secret
from hld.app.sql import Database
from hld.app.stores import Stores
from hld.core.auth.tokens import TokenError

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_USERNAME = re.compile(USERNAME_PATTERN)
Handler = Callable[[Request], Awaitable[Response]]


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


class RequestContext:
    """ASGI middleware: request id, one JSON log line and metrics per request.

    Plain ASGI rather than BaseHTTPMiddleware so streamed (SSE) responses pass through
    unbuffered.
    """

    def __init__(self, app: ASGIApp, log: JsonLog, metrics: AppMetrics) -> None:
        self.app = app
        self.log = log
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            label = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(label, scope["method"], str(status)).inc()
            self.metrics.latency.labels(label).observe(elapsed)
            self.log("request", request_id=request_id, method=scope["method"],
                     path=scope["path"], route=label, status=status,
                     duration_ms=round(elapsed * 1000, 3),
                     user=scope["state"].get("user"), auth=scope["state"].get("auth"))


async def read_json(request: Request) -> dict[str, Any]:
    """The request's JSON object; 413 past BODY_BYTES_MAX, 400 when it is not JSON."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > BODY_BYTES_MAX):
        raise ApiError(413, f"request body larger than {BODY_BYTES_MAX} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > BODY_BYTES_MAX:
            raise ApiError(413, f"request body larger than {BODY_BYTES_MAX} bytes")
    try:
        data = json.loads(body)
    except ValueError:
        raise ApiError(400, "request body must be JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    return data


def limit_param(request: Request) -> int:
    raw = request.query_params.get("limit", str(TIMELINE_LIMIT_DEFAULT))
    if not raw.isdigit() or not 1 <= int(raw) <= TIMELINE_LIMIT_MAX:
        raise ApiError(400, f"limit must be an integer from 1 to {TIMELINE_LIMIT_MAX}")
    return int(raw)


class Api:
    """Route handlers bound to one Chirp."""

    def __init__(self, chirp: Chirp, tokens: Tokens, log: JsonLog, metrics: AppMetrics,
                 name: str) -> None:
        self.chirp = chirp
        self.tokens = tokens
        self.log = log
        self.metrics = metrics
        self.name = name
        self.sse_clients = 0

    async def identity(self, request: Request) -> str:
        """The caller's username: a Bearer token with a live session, else gateway headers."""
        return (await self.session(request))[0]

    async def session(self, request: Request) -> tuple[str, str | None]:
        """(username, session id); the session is None for a gateway-only identity."""
        subject = request.headers.get("x-auth-subject")
        if subject and not _USERNAME.fullmatch(subject):
            raise ApiError(401, "x-auth-subject is not a chirp username")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            if subject:
                request.state.auth, request.state.user = "gateway", subject
                return subject, None
            raise ApiError(401, "log in first: send Authorization: Bearer TOKEN")
        try:
            identity = self.tokens.verify(token.strip())
        except TokenError as exc:
            raise ApiError(401, f"invalid token: {exc}") from None
        if subject and subject != identity.username:
            raise ApiError(401, "the token's subject differs from x-auth-subject")
        if not await self.chirp.session_alive(identity.session, identity.username):
            raise ApiError(401, "session revoked or expired: log in again")
        request.state.auth = "gateway" if subject else "bearer"
        request.state.user = identity.username
        return identity.username, identity.session

    def routes(self) -> list[Route]:
        w = self.wrap
        return [
            Route("/api/signup", w(self.signup), methods=["POST"]),
            Route("/api/login", w(self.login), methods=["POST"]),
            Route("/api/logout", w(self.logout), methods=["POST"]),
            Route("/api/follow/{username}", w(self.follow), methods=["POST", "DELETE"]),
            Route("/api/posts", w(self.post), methods=["POST"]),
            Route("/api/posts/{post_id}", w(self.get_post), methods=["GET"]),
            Route("/api/posts/{post_id}/like", w(self.like), methods=["POST"]),
            Route("/api/users/{username}", w(self.user), methods=["GET"]),
            Route("/api/users/{username}/posts", w(self.user_posts), methods=["GET"]),
            Route("/api/timeline", w(self.timeline), methods=["GET"]),
            Route("/api/trending", w(self.trending), methods=["GET"]),
            Route("/api/stream", w(self.stream), methods=["GET"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/metrics", self.metrics_page, methods=["GET"]),
        ]

    def wrap(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return error(exc.status, exc.message)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                    redis.exceptions.ReadOnlyError) as exc:
                self.metrics.store_errors.inc()
                self.log("store_unavailable", level="error",
                         request_id=request.state.request_id, error=str(exc))
                return error(503, "the store is unavailable; retry shortly")
            except sqlite3.OperationalError as exc:
                self.log("sql_unavailable", level="error",
                         request_id=request.state.request_id, error=str(exc))
                return error(503, "the database is busy; retry shortly")
        return endpoint

    # -- handlers ------------------------------------------------------------------------

    async def signup(self, request: Request) -> Response:
        body = await read_json(request)
        result = await self.chirp.signup(body.get("username"), body.get("password"))
        self.log("signup", request_id=request.state.request_id, username=result["username"])
        return JSONResponse(result, status_code=201)

    async def login(self, request: Request) -> Response:
        body = await read_json(request)
        return JSONResponse(await self.chirp.login(body.get("username"),
                                                   body.get("password")))

    async def logout(self, request: Request) -> Response:
        """Revoke the session of the token this request carries."""
        me, session = await self.session(request)
        if session is None:
            raise ApiError(401, "log out with the session's token: Authorization: Bearer "
                                "TOKEN")
        await self.chirp.logout(session)
        self.log("logout", request_id=request.state.request_id, username=me)
        return JSONResponse({"logged_out": me})

    async def follow(self, request: Request) -> Response:
        me = await self.identity(request)
        target = request.path_params["username"]
        if request.method == "DELETE":
            return JSONResponse(await self.chirp.unfollow(me, target))
        result = await self.chirp.follow(me, target)
        return JSONResponse(result, status_code=201 if result["created"] else 200)

    async def post(self, request: Request) -> Response:
        me = await self.identity(request)
        body = await read_json(request)
        result = await self.chirp.create_post(me, body.get("text"),
                                              request.state.request_id)
        return JSONResponse(result, status_code=201)

    @staticmethod
    def _post_id(request: Request) -> int:
        raw = request.path_params["post_id"]
        if not raw.isdigit() or len(raw) > 18:
            raise ApiError(404, f"no post with id {raw!r}")
        return int(raw)

    async def get_post(self, request: Request) -> Response:
        post_id = self._post_id(request)
        found = await self.chirp.posts([post_id])
        if not found:
            raise ApiError(404, f"no post with id {post_id}")
        return JSONResponse(found[0])

    async def like(self, request: Request) -> Response:
        me = await self.identity(request)
        return JSONResponse(await self.chirp.like(me, self._post_id(request)))

    async def user(self, request: Request) -> Response:
        profile = await self.chirp.profile(request.path_params["username"])
        return JSONResponse(profile.as_json())

    async def user_posts(self, request: Request) -> Response:
        limit = limit_param(request)
        posts = await self.chirp.user_timeline(request.path_params["username"], limit)
        return JSONResponse({"posts": posts})

    async def timeline(self, request: Request) -> Response:
        me = await self.identity(request)
        return JSONResponse(await self.chirp.home_timeline(me, limit_param(request)))

    async def trending(self, request: Request) -> Response:
        return JSONResponse(await self.chirp.trending(time.time()))

    async def stream(self, request: Request) -> Response:
        """Server-Sent Events: each new post for the caller's home timeline."""
        me = await self.identity(request)
        if self.sse_clients >= SSE_CLIENTS_MAX:
            raise ApiError(503, "too many live streams open; retry later")
        channels = await self.chirp.live_channels(me)
        pubsub = self.chirp.stores.live.pubsub()
        await pubsub.subscribe(*channels)
        self.sse_clients += 1
        self.metrics.sse_clients.inc()
        request_id = request.state.request_id
        self.log("stream_open", request_id=request_id, username=me, channels=len(channels))

        async def events() -> AsyncIterator[str]:
            try:
                yield f"retry: {SSE_RETRY_MS}\n: connected {request_id}\n\n"
                beat = time.monotonic() + SSE_HEARTBEAT_S
                while True:
                    try:
                        message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                           timeout=1.0)
                    except redis.exceptions.RedisError as exc:
                        # the store went away (failover): end the stream; the browser's
                        # EventSource reconnects after SSE_RETRY_MS to the new primary
                        self.log("stream_lost", level="warning", request_id=request_id,
                                 error=str(exc))
                        yield "event: reconnect\ndata: {}\n\n"
                        return
                    if message is not None and message.get("type") == "message":
                        yield f"event: post\ndata: {message['data']}\n\n"
                    elif time.monotonic() >= beat:
                        beat = time.monotonic() + SSE_HEARTBEAT_S
                        yield ": keep-alive\n\n"
            finally:
                self.sse_clients -= 1
                self.metrics.sse_clients.dec()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                self.log("stream_closed", request_id=request_id, username=me)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache",
                                          "x-accel-buffering": "no"})

    async def healthz(self, request: Request) -> Response:
        checks: dict[str, str] = {}
        stores = self.chirp.stores
        for part, client in (("store", stores.primary), ("cache", stores.cache)):
            try:
                await asyncio.wait_for(client.ping(), timeout=1.0)
                checks[part] = "ok"
            except (redis.exceptions.RedisError, TimeoutError, OSError) as exc:
                checks[part] = f"down: {exc}"
        healthy = checks["store"] == "ok"
        return JSONResponse({"status": "ok" if healthy else "degraded", "name": self.name,
                             **checks, "topology": {
                                 "store_primary": stores.topology.primary,
                                 "store_replica": stores.topology.replica,
                                 "cache": stores.topology.cache}},
                            status_code=200 if healthy else 503)

    async def metrics_page(self, request: Request) -> Response:
        return Response(generate_latest(self.metrics.registry),
                        media_type=CONTENT_TYPE_LATEST)


def build(settings: Settings, log: JsonLog | None = None) -> ASGIApp:
    """The ASGI application for ``settings``: routes, error pages, lifespan, middleware."""
    log = log or JsonLog(settings.name)
    metrics = AppMetrics()
    db = Database(settings.sql)
    tokens = Tokens(jwt_secret(settings), settings.jwt_ttl_s)

    def topology_changed(topology: Topology) -> None:
        metrics.topology_changes.inc()
        log("topology_changed", level="warning", store_primary=topology.primary,
            store_replica=topology.replica, cache=topology.cache)

    stores = Stores(settings, topology_changed)
    chirp = Chirp(settings, db, stores, tokens=tokens, metrics=metrics, log=log)
    api = Api(chirp, tokens, log, metrics, settings.name)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settings.data_path.mkdir(parents=True, exist_ok=True)
        await db.open()
        stores.start()
        log("app_started", sql=settings.sql.split("@")[-1], write_policy=settings.write_policy,
            store_primary=stores.topology.primary, cache=stores.topology.cache)
        try:
            yield
        finally:
            await stores.close()
            await db.close()
            log("app_stopped")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = {404: f"no such endpoint: {request.url.path}",
                   405: f"method {request.method} is not allowed here"}.get(
            exc.status_code, str(exc.detail))
        return error(exc.status_code, message)

    async def crash(request: Request, exc: Exception) -> Response:
        log("unhandled_error", level="error", request_id=request.state.request_id,
            error=repr(exc))
        return error(500, "internal error; the request id is in x-request-id")

    app = Starlette(routes=api.routes(), lifespan=lifespan,
                    exception_handlers={HTTPException: http_error, Exception: crash})
    return RequestContext(app, log, metrics)
