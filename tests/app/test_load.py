"""``hld load`` end to end against a small fake chirp, and its one-line errors.

The fake implements chirp's JSON API minimally (Starlette, served by uvicorn in a thread
on a free loopback port) and can answer 429 to every Nth read, be slow, hang one route,
or refuse sign-ups, so these tests exercise the generator without the whole system.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hld.app.load import (
    MAIN_COLUMNS,
    LoadConfig,
    LoadResult,
    Progress,
    SetupStats,
    run_load,
    username,
)
from hld.app.workload import Schedule, parse_burst, parse_mix
from hld.cli import main
from tests.support import free_port

SERVER_START_TIMEOUT_S = 20.0


@dataclass
class FakeChirp:
    """State and knobs of the fake; tests flip the knobs between runs."""

    reject_every: int = 0          # every Nth GET answers 429 (0: never)
    read_delay_s: float = 0.0      # every GET waits this long first
    hang_trending: bool = False    # /api/trending never answers (within the test)
    refuse_signup: bool = False    # sign-up answers 500
    users: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    follows: set[tuple[str, str]] = field(default_factory=set)
    posts: list[tuple[int, str, str]] = field(default_factory=list)
    reads: int = 0
    sent_429: int = 0
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def reset_counts(self) -> None:
        self.reads = 0
        self.sent_429 = 0


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def build_app(fake: FakeChirp) -> Starlette:
    def me(request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        return fake.tokens.get(auth.removeprefix("Bearer "))

    def issue(name: str) -> str:
        token = f"token-{name}-{next(fake.counter)}"
        fake.tokens[token] = name
        return token

    async def signup(request: Request) -> Response:
        if fake.refuse_signup:
            return _error(500, "the database is on fire")
        body = await request.json()
        name, password = body["username"], body["password"]
        if name in fake.users:
            return _error(409, f"username {name!r} is taken")
        fake.users[name] = password
        return JSONResponse({"username": name, "token": issue(name)}, status_code=201)

    async def login(request: Request) -> Response:
        body = await request.json()
        if fake.users.get(body["username"]) != body["password"]:
            return _error(401, "wrong username or password")
        return JSONResponse({"token": issue(body["username"])})

    async def authed(request: Request) -> Response:
        user = me(request)
        if user is None:
            return _error(401, "no token")
        if request.method == "GET":
            fake.reads += 1
            if fake.read_delay_s:
                await asyncio.sleep(fake.read_delay_s)
            if fake.hang_trending and request.url.path == "/api/trending":
                await asyncio.sleep(60)
            if fake.reject_every and fake.reads % fake.reject_every == 0:
                fake.sent_429 += 1
                return _error(429, "rate limit exceeded")
            return JSONResponse({"posts": []})
        path = request.url.path
        if path == "/api/posts":
            body = await request.json()
            post_id = len(fake.posts) + 1
            fake.posts.append((post_id, user, body["text"]))
            return JSONResponse({"id": post_id, "author": user}, status_code=201)
        if path.endswith("/like"):
            return JSONResponse({"likes": 1})
        target = request.path_params["username"]
        if target not in fake.users:
            return _error(404, f"no user named {target!r}")
        if request.method == "DELETE":
            if (user, target) not in fake.follows:
                return _error(404, f"you do not follow {target!r}")
            fake.follows.discard((user, target))
            return JSONResponse({"unfollowed": target})
        created = (user, target) not in fake.follows
        fake.follows.add((user, target))
        return JSONResponse({"following": target}, status_code=201 if created else 200)

    return Starlette(routes=[
        Route("/api/signup", signup, methods=["POST"]),
        Route("/api/login", login, methods=["POST"]),
        Route("/api/follow/{username}", authed, methods=["POST", "DELETE"]),
        Route("/api/posts", authed, methods=["POST"]),
        Route("/api/posts/{post_id}/like", authed, methods=["POST"]),
        Route("/api/users/{username}", authed, methods=["GET"]),
        Route("/api/users/{username}/posts", authed, methods=["GET"]),
        Route("/api/timeline", authed, methods=["GET"]),
        Route("/api/trending", authed, methods=["GET"]),
    ])


@dataclass
class Served:
    fake: FakeChirp
    url: str


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """The fake on a free port, in a thread; stopped (and joined) however the tests end."""
    fake = FakeChirp()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(fake), host="127.0.0.1", port=port,
                                           log_level="error", lifespan="off",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, name="fake-chirp", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not server.started:
            assert time.monotonic() < deadline, "the fake chirp did not start"
            time.sleep(0.02)
        yield Served(fake, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive()


@pytest.fixture
def fake(served: Served) -> Iterator[FakeChirp]:
    """The fake with its knobs reset after each test."""
    served.fake.reset_counts()
    yield served.fake
    served.fake.reject_every = 0
    served.fake.read_delay_s = 0.0
    served.fake.hang_trending = False
    served.fake.refuse_signup = False


def load_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    status = main(["load", "--quiet", "--format", "json", *args])
    out = capsys.readouterr().out
    assert status == 0
    document = json.loads(out)
    assert document["name"] == "load"
    rows: list[dict[str, Any]] = document["rows"]
    return rows


def assert_counts_add_up(rows: list[dict[str, Any]]) -> None:
    """Every arrival is accounted for exactly once, per operation and overall."""
    for row in rows:
        outcomes = row["dropped_by_cap"] + row["completed"] + row["timeouts"] \
            + row["conn_errors"]
        assert row["offered"] == outcomes, row
        classes = row["status_2xx"] + row["status_4xx"] + row["status_429"] \
            + row["status_5xx"] + row["status_other"]
        assert row["completed"] == classes, row
        by_code = sum(v for k, v in row.items() if k[7:].isdigit() and k.startswith("status_"))
        assert row["completed"] == by_code, row
    *ops, overall = rows
    assert overall["op"] == "all"
    for key in ("offered", "completed", "dropped_by_cap", "timeouts", "conn_errors",
                "status_2xx", "status_429"):
        assert overall[key] == sum(row[key] for row in ops), key


class TerminalStream(io.StringIO):
    """Captured text that claims to be a terminal, as stderr is for a person."""

    def isatty(self) -> bool:
        return True


@contextlib.contextmanager
def closing_server() -> Iterator[str]:
    """A raw HTTP server in a thread: sign-up and posts answer 201 with a token and an
    id; every other request has its connection closed without a response."""
    answer = json.dumps({"token": "t", "id": 1}).encode()
    created = (b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                if not head.startswith((b"POST /api/signup", b"POST /api/posts")):
                    break
                writer.write(created)
        writer.close()

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, name="closing-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        async def stop() -> None:
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


# ---- the output ---------------------------------------------------------------------------
def test_json_rows_cover_every_operation_and_counts_add_up(
        served: Served, fake: FakeChirp, capsys: pytest.CaptureFixture[str]) -> None:
    rows = load_json(capsys, "--url", served.url, "--rps", "150", "--duration", "1.5",
                     "--users", "12", "--seed", "5", "--connections", "8")
    assert_counts_add_up(rows)
    for row in rows:
        assert set(MAIN_COLUMNS) <= set(row)
    ops = {row["op"] for row in rows}
    assert {"home", "user_posts", "profile", "trending", "post", "all"} <= ops
    overall = rows[-1]
    assert overall["status_2xx"] == overall["completed"]  # the fake refuses nothing
    assert overall["dropped_by_cap"] == 0
    assert overall["achieved_rps"] > 0
    assert overall["planned_rps"] == 150.0
    assert overall["users"] == 12
    assert overall["elapsed_s"] >= 1.4
    assert overall["cpu_us_per_request"] > 0
    assert 0 <= overall["send_wait_ms_p99"] <= overall["p99_ms"] * 1.01
    assert "planned_rps" not in rows[0]
    assert 0 < overall["p50_ms"] <= overall["p90_ms"] <= overall["p99_ms"] <= \
        overall["max_ms"] * 1.01


def test_arrivals_are_the_seeded_schedule(served: Served, fake: FakeChirp) -> None:
    """Open loop: the number sent is the schedule's, whatever the server does."""
    config = LoadConfig(url=served.url, rps=120.0, duration_s=1.0, users=6, seed=11,
                        connections=4)
    result = run_load(config)
    expected = sum(1 for _ in Schedule(120.0, 1.0).arrivals(random.Random("11:arrivals")))
    assert isinstance(result, LoadResult)
    assert expected == result.overall.offered
    assert result.setup.users_created + result.setup.users_logged_in == 6
    assert result.setup.posts == 6
    assert result.elapsed_s < 1.0 + config.timeout_s


def test_429s_are_counted_apart_from_other_4xx(
        served: Served, fake: FakeChirp, capsys: pytest.CaptureFixture[str]) -> None:
    fake.reject_every = 4
    rows = load_json(capsys, "--url", served.url, "--rps", "150", "--duration", "1",
                     "--users", "8", "--mix", "read=1", "--seed", "2")
    assert_counts_add_up(rows)
    overall = rows[-1]
    assert fake.sent_429 == overall["status_429"]
    assert fake.sent_429 == overall["status_429"] > 0
    assert overall["status_4xx"] == 0
    assert overall["status_2xx"] + overall["status_429"] == overall["completed"]


def test_the_in_flight_cap_drops_and_counts_arrivals(served: Served, fake: FakeChirp) -> None:
    fake.read_delay_s = 0.3
    config = LoadConfig(url=served.url, rps=100.0, duration_s=1.0, users=4, seed=3,
                        mix=parse_mix("read=1"), max_in_flight=3, connections=1)
    result = run_load(config)
    overall = result.overall
    assert overall.dropped_by_cap > 0
    assert result.in_flight_max == 3
    assert result.send_wait_ms_p99 >= 250  # queued behind a 300 ms read on the one socket
    assert overall.offered == overall.dropped_by_cap + overall.completed \
        + overall.timeouts + overall.conn_errors


def test_requests_past_their_timeout_are_counted_and_the_run_stays_bounded(
        served: Served, fake: FakeChirp) -> None:
    fake.hang_trending = True
    config = LoadConfig(url=served.url, rps=60.0, duration_s=1.0, users=4, seed=4,
                        mix=parse_mix("trending=1,home=1"), timeout_s=1.0)
    started = time.monotonic()
    result = run_load(config)
    trending = next(s for s in result.ops if s.op == "trending")
    assert trending.timeouts == trending.offered > 0
    assert trending.completed == 0
    assert next(s for s in result.ops if s.op == "home").timeouts == 0
    assert result.elapsed_s < 1.0 + 1.0 + 0.6  # duration + timeout + sweep and drain
    assert time.monotonic() - started < 15.0


def test_arrivals_a_whole_timeout_late_count_as_timeouts_without_being_sent(
        served: Served, fake: FakeChirp) -> None:
    """A stalled generator (here: a progress callback that blocks the loop) does not
    send requests that are already past their timeout; it counts them."""
    config = LoadConfig(url=served.url, rps=100.0, duration_s=1.0, users=3, seed=6,
                        timeout_s=0.1)
    result = run_load(config, on_progress=lambda _snap: time.sleep(0.3))
    overall = result.overall
    unsent = overall.offered - overall.dropped_by_cap - result.sent
    assert unsent > 0
    assert overall.timeouts >= unsent
    assert overall.offered == overall.dropped_by_cap + overall.completed \
        + overall.timeouts + overall.conn_errors


def test_bursts_add_arrivals_and_report_admitted_latency_inside_and_outside(
        served: Served, fake: FakeChirp) -> None:
    config = LoadConfig(url=served.url, rps=40.0, duration_s=1.0, users=4, seed=8,
                        bursts=(parse_burst("200:0.5:0.3"),))
    result = run_load(config)
    assert result.planned_rps == pytest.approx(40 + 200 * 0.3)
    assert result.ok_p99_ms_in_burst > 0
    assert result.ok_p99_ms_outside_burst > 0
    assert 0 < result.ok_p50_ms_in_burst <= result.ok_p99_ms_in_burst
    assert 0 < result.ok_p50_ms_outside_burst <= result.ok_p99_ms_outside_burst
    row = result.rows()[-1]
    assert (row["ok_p50_ms_in_burst"], row["ok_p50_ms_outside_burst"]) == (
        round(result.ok_p50_ms_in_burst, 3), round(result.ok_p50_ms_outside_burst, 3))


def test_a_second_run_logs_the_existing_users_in(served: Served, fake: FakeChirp) -> None:
    config = LoadConfig(url=served.url, rps=20.0, duration_s=0.2, users=5, seed=1)
    run_load(config)
    again = run_load(config)
    assert again.setup == SetupStats(0, 5, again.setup.follows, 5, again.setup.elapsed_s)
    assert all(username(i) in fake.users for i in range(5))


def test_progress_is_reported_while_loading(served: Served, fake: FakeChirp) -> None:
    seen: list[Progress] = []
    config = LoadConfig(url=served.url, rps=50.0, duration_s=0.8, users=3, seed=1)
    result = run_load(config, on_progress=seen.append)
    assert len(seen) >= 2
    assert seen[-1].completed == result.overall.completed
    assert [p.elapsed_s for p in seen] == sorted(p.elapsed_s for p in seen)


def test_table_and_csv_outputs(served: Served, fake: FakeChirp,
                               capsys: pytest.CaptureFixture[str]) -> None:
    common = ["load", "--quiet", "--url", served.url, "--rps", "30", "--duration", "0.3",
              "--users", "3"]
    assert main([*common, "--format", "table"]) == 0
    table = capsys.readouterr().out
    assert "achieved" in table
    assert "p99_ms" in table
    assert main([*common, "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("op,offered,dropped_by_cap,completed,")
    assert lines[0].endswith(",users,setup_s,interrupted")
    assert lines[-1].startswith("all,")
    assert lines[1].endswith(",,")  # run-level figures only on the "all" row


def test_progress_bar_on_a_terminal_shows_rps_and_errors(
        served: Served, fake: FakeChirp, monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = TerminalStream()
    monkeypatch.setattr(sys, "stderr", terminal)
    fake.reject_every = 3
    assert main(["load", "--url", served.url, "--rps", "40", "--duration", "0.6",
                 "--users", "3", "--mix", "read=1", "--format", "json"]) == 0
    shown = terminal.getvalue()
    assert "signing up (or logging in) 3 users" in shown
    assert "set up 3 users" in shown
    assert "rps" in shown
    assert "errors" in shown
    assert "x 429" in shown


def test_a_failed_set_up_on_a_terminal_leaves_only_its_lines(
        served: Served, fake: FakeChirp, monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = TerminalStream()
    monkeypatch.setattr(sys, "stderr", terminal)
    fake.refuse_signup = True
    assert main(["load", "--url", served.url, "--users", "1", "--duration", "1"]) == 2
    lines = terminal.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("hld load: error: set-up could not sign up")


def test_quiet_terminal_shows_nothing(served: Served, fake: FakeChirp,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = TerminalStream()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["load", "--quiet", "--url", served.url, "--rps", "20", "--duration", "0.2",
                 "--users", "2", "--format", "json"]) == 0
    assert terminal.getvalue() == ""


def test_connections_closed_without_an_answer_are_connection_errors() -> None:
    """A server that answers set-up but drops every load request on the floor."""
    with closing_server() as url:
        config = LoadConfig(url=url, rps=50.0, duration_s=0.5, users=2, seed=1,
                            follows_per_user=0, mix=parse_mix("read=1"), timeout_s=2.0)
        result = run_load(config)
    overall = result.overall
    assert overall.offered > 0
    assert overall.conn_errors == overall.offered
    assert overall.completed == overall.timeouts == 0


# ---- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "message"), [
    (["--rps", "0"], "--rps must be > 0"),
    (["--rps", "-5"], "--rps must be > 0"),
    (["--duration", "0"], "--duration must be > 0"),
    (["--duration", "-1"], "--duration must be > 0"),
    (["--mix", "read=80,dance=20"], "mix key 'dance' is unknown"),
    (["--mix", "read"], "is not KEY=WEIGHT"),
    (["--mix", "read=0"], "no operation with a positive weight"),
    (["--burst", "500:10"], "is not RPS:AT_S:FOR_S"),
    (["--burst", "500:-1:5"], "AT_S must be >= 0"),
    (["--users", "0"], "--users must be between 1"),
    (["--connections", "0"], "--connections must be between 1"),
    (["--timeout", "0"], "--timeout must be > 0"),
    (["--url", "ftp://example"], "give an http:// URL"),
])
def test_bad_flags_are_one_line_errors(args: list[str], message: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["load", "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_unreachable_gateway_is_one_line_without_traceback() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = subprocess.run([sys.executable, "-m", "hld.cli", "load", "--url", url,
                             "--duration", "1"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr == (f"hld load: error: cannot reach the gateway at {url}: "
                             "is `hld up` running?\n")
    assert result.stdout == ""


def test_ctrl_c_ends_the_schedule_and_still_reports(served: Served, fake: FakeChirp) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hld.cli", "load", "--url", served.url, "--rps", "40",
         "--duration", "60", "--users", "2", "--format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # bounded: the process ends, or the finally kills it
            if "loading for 60 s" in line:
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 130
    assert "Traceback" not in err
    overall = json.loads(out)["rows"][-1]
    assert overall["interrupted"] is True
    assert 0 < overall["offered"] < 40 * 30
    assert overall["elapsed_s"] < 30


def test_nonsense_number_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["load", "--rps", "lots"])
    assert info.value.code == 2
    assert "'lots' is not a number" in capsys.readouterr().err


def test_refused_sign_ups_fail_the_set_up_with_the_reason(
        served: Served, fake: FakeChirp, capsys: pytest.CaptureFixture[str]) -> None:
    fake.refuse_signup = True
    assert main(["load", "--url", served.url, "--users", "2", "--duration", "1"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"hld load: signing up (or logging in) 2 users at {served.url}"
    assert err[1].startswith("hld load: error: set-up could not sign up or log in 2 of 2 "
                             "users (load_user_0: 500 the database is on fire;")
    assert len(err) == 2


# ---- the real app ---------------------------------------------------------------------------
@pytest.mark.blackbox
def test_load_against_the_real_chirp_app(chirp: Any) -> None:
    """Set-up and every operation against a real app process (no gateway: the app checks
    the Bearer tokens itself); nothing fails on the server's side."""
    client, _ = chirp.up(1)
    config = LoadConfig(url=str(client.base_url).rstrip("/"), rps=25.0, duration_s=2.0,
                        users=6, follows_per_user=3, seed=1, timeout_s=10.0,
                        mix=parse_mix("read=60,post=15,like=15,follow=10"))
    result = run_load(config)
    assert result.setup.users_created == 6
    assert result.setup.posts == 6
    overall = result.overall
    assert overall.offered == overall.completed
    assert overall.status_5xx == overall.timeouts == overall.conn_errors == 0
    for stats in result.ops:
        if stats.op != "unfollow":  # the model may unfollow an edge the server lacks: 404
            assert stats.status_2xx == stats.completed, (stats.op, stats.status)
    profile = client.get(f"/api/users/{username(0)}").json()
    assert profile["followers"] >= 1
    assert profile["posts"] >= 1
