"""Run the main job: the reference system, a scripted scenario, and a report with numbers.

  hld demo [--config system.toml] [--exit]

Starts everything ``hld up`` starts, then, with load from ``hld load`` running through
the gateway, shows the roadmap working:

1. requests spread across the app replicas;
2. the cache node's hit ratio climbing as the working set warms up;
3. an app replica killed: ejected by the gateway, traffic continuing, the replica
   restarted and readmitted;
4. a traffic spike answered with 429s while admitted requests keep their latency;
5. the store primary killed: the replica promoted, no acknowledged post lost;
6. the workers paused: the fan-out queue growing, then draining once they resume.

Each step reports what it measured and whether the mechanism did what it should. The
dashboard stays up afterwards until Ctrl-C; ``--exit`` stops after the report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

STEP_TIMEOUT_S = 60.0  # every wait in the scenario is bounded
LOAD_CONNECTIONS = 64
ACCOUNT_ATTEMPTS_MAX = 10   # sign-up/log-in retries (429, 5xx, timeouts) before giving up
SPIKE_LIMIT_RPS = 12.0      # the per-client API limit while the spike runs: about what
SPIKE_EXTRA_RPS = 100.0     # a busy 2-core machine serves (the Python store is the limit)
WARM_UP_RPS = 20.0          # steady load of the first steps: well inside what 2 busy
KILL_RPS = 15.0             # cores serve, so a mechanism, not overload, shows
WARM_UP_S = 14.0
# Admitted requests keep their latency: the typical admitted request during the spike
# (p50) is served within what 99% got outside it (p99). A queue behind a spike the
# limiter let in moves the whole distribution (seconds at +100 rps); a stall of the
# shared machine moves a p99 of a few dozen samples but hardly a median; and turning
# 100 requests/s away does cost CPU on 2 cores, so the spike's median is not held to the
# quiet median (measured: 225-451 ms inside vs 61-246 ms outside, 1.1-1.4 s p99 outside).
SPIKE_P50_SLACK_MS = 100.0  # small samples: the spike admits ~50 requests


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--config", metavar="system.toml", default=None,
                        help="system configuration (default: the embedded defaults)")
    parser.add_argument("--exit", action="store_true",
                        help="stop the system after the report instead of keeping it up")
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="how to print the report (default: table)")


@dataclass
class Step:
    step: str
    observed: str
    ok: bool

    def row(self) -> dict[str, Any]:
        return {"step": self.step, "observed": self.observed, "ok": self.ok}


class Scenario:
    def __init__(self, plane: Any, fmt: str) -> None:
        from hld.control.plane import ControlPlane

        assert isinstance(plane, ControlPlane)
        self.plane = plane
        self.fmt = fmt
        cfg = plane.config
        self.gateway = f"http://{plane.host}:{cfg.gateway.port}"
        self.admin = f"http://{plane.host}:{cfg.gateway.admin_port}"
        self.steps: list[Step] = []

    def say(self, text: str) -> None:
        print(f"demo: {text}", flush=True)

    # -- measuring helpers ---------------------------------------------------------------

    async def attempts_by_server(self) -> dict[str, float]:
        import httpx

        from hld.control.observe import _counter_samples

        async with httpx.AsyncClient(timeout=2.0) as client:
            text = (await client.get(f"{self.admin}/metrics")).text
        out: dict[str, float] = {}
        for name, labels, value in _counter_samples(text):
            if name == "hld_gateway_upstream_attempts_total":
                out[labels["server"]] = out.get(labels["server"], 0.0) + value
        return out

    async def cache_counters(self) -> tuple[float, float]:
        import redis.asyncio

        client = redis.asyncio.Redis(host=self.plane.host, port=self.plane.config.cache.port,
                                     socket_timeout=2)
        try:
            info = await client.info("stats")
        finally:
            await client.aclose()
        return float(info.get("keyspace_hits", 0)), float(info.get("keyspace_misses", 0))

    async def server_available(self, url: str) -> bool:
        import httpx

        async with httpx.AsyncClient(timeout=2.0) as client:
            status = (await client.get(f"{self.admin}/status")).json()
        for server in status["upstreams"]["app"]["servers"]:
            if server["server"] == url:
                return bool(server["available"]) and not server["ejected"]
        return False

    async def account(self, client: Any, name: str) -> tuple[str, int]:
        """A user's token and id: sign up (or log in), retrying while the system is busy."""
        import httpx

        creds = {"username": name, "password": "demo-password-1"}
        problem = ""
        for attempt in range(ACCOUNT_ATTEMPTS_MAX):
            try:
                reply = await client.post("/api/signup", json=creds, timeout=30.0)
                if reply.status_code == 409:
                    reply = await client.post("/api/login", json=creds, timeout=30.0)
                if reply.status_code in (200, 201):
                    data = reply.json()
                    return str(data["token"]), int(data["user_id"])
                problem = f"{reply.status_code} {reply.text[:200]}"
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(min(5.0, 0.5 * 2 ** attempt))
        raise RuntimeError(f"could not sign up {name}: {problem}")

    async def wait_for(self, check: Callable[[], Awaitable[bool]],
                       timeout_s: float = STEP_TIMEOUT_S) -> float | None:
        """Seconds until ``check`` is true, or None if it never became true in time."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            with contextlib.suppress(Exception):  # a component mid-restart may not answer
                if await check():
                    return time.monotonic() - started
            await asyncio.sleep(0.25)
        return None

    def load(self, rps: float, duration_s: float, *, users: int = 20, seed: int = 1,
             bursts: tuple[Any, ...] = (), mix: str | None = None) -> Any:
        from hld.app.load import LoadConfig
        from hld.app.workload import parse_mix

        # hld load signs its users up a few at a time (scrypt is slow on purpose); the load
        # phase needs many connections, or a spike could not outrun the rate limit.
        config = LoadConfig(url=self.gateway, rps=rps, duration_s=duration_s, users=users,
                            seed=seed, bursts=bursts, timeout_s=10.0,
                            connections=LOAD_CONNECTIONS)
        return replace(config, mix=parse_mix(mix)) if mix else config

    # -- the steps -------------------------------------------------------------------

    async def spread_and_warm_up(self) -> None:
        from hld.app.load import run_load_async

        self.say("steady read-heavy load; watching how the gateway spreads it")
        # One load run (one set-up: its log-ins hash passwords), with the cache counters
        # read when the load phase starts, half-way through, and at the end.
        set_up_done = asyncio.Event()
        samples: list[tuple[float, float]] = []

        async def sample_first_half() -> None:
            await set_up_done.wait()
            samples.append(await self.cache_counters())
            await asyncio.sleep(WARM_UP_S / 2)
            samples.append(await self.cache_counters())

        sampler = asyncio.ensure_future(sample_first_half())
        before = await self.attempts_by_server()
        try:
            await run_load_async(self.load(rps=WARM_UP_RPS, duration_s=WARM_UP_S),
                                 on_setup=lambda _: set_up_done.set())
        finally:
            if not sampler.done():
                sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        if len(samples) < 2:
            raise RuntimeError("the load ended before half of its duration")
        (hits0, misses0), (hits1, misses1) = samples
        hits2, misses2 = await self.cache_counters()
        after = await self.attempts_by_server()
        served = {url: after.get(url, 0.0) - before.get(url, 0.0) for url in after}
        total = sum(served.values()) or 1.0
        shares = {url.rsplit(":", 1)[1]: 100.0 * n / total for url, n in sorted(served.items())}
        ok = len(shares) >= 2 and min(shares.values()) >= 20.0
        self.steps.append(Step("requests spread across app replicas",
                               ", ".join(f"app :{port} {share:.0f}%"
                                         for port, share in shares.items()), ok))

        def ratio(hits: float, misses: float) -> float:
            return 100.0 * hits / (hits + misses) if hits + misses else 0.0

        first = ratio(hits1 - hits0, misses1 - misses0)
        second = ratio(hits2 - hits1, misses2 - misses1)
        self.steps.append(Step("cache hit ratio climbing",
                               f"{first:.0f}% in the first {WARM_UP_S / 2:g} s of load, "
                               f"{second:.0f}% in the next", second >= first and second > 0))

    async def kill_an_app(self) -> None:
        from hld.app.load import run_load_async

        cfg = self.plane.config
        url = f"http://{self.plane.host}:{cfg.app_ports[0]}"
        self.say("killing app-1 (kill -9) under load")
        set_up_done = asyncio.Event()
        load = asyncio.ensure_future(run_load_async(
            self.load(rps=KILL_RPS, duration_s=20, seed=2),
            on_setup=lambda _: set_up_done.set()))
        waiter = asyncio.ensure_future(set_up_done.wait())
        await asyncio.wait({load, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if load.done():
            load.result()  # the set-up failed: say why
        await asyncio.sleep(3)  # the kill comes under load, not during the load's set-up
        await self.plane.fault("app-1", "kill")
        ejected_after = await self.wait_for(lambda: self._not(self.server_available(url)), 15)
        self.say("restarting app-1")
        await self.plane.fault("app-1", "restart")
        back_after = await self.wait_for(lambda: self.server_available(url), 30)
        result = await load
        overall = result.overall
        success = 100.0 * overall.status_2xx / overall.completed if overall.completed else 0.0
        ok = ejected_after is not None and back_after is not None and success >= 90.0
        self.steps.append(Step(
            "app replica killed, ejected, restarted, readmitted",
            f"ejected after {_secs(ejected_after)}, readmitted {_secs(back_after)} after "
            f"restart; {success:.1f}% of {overall.completed} requests succeeded meanwhile "
            f"({overall.status_5xx} 5xx)", ok))

    async def _not(self, check: Awaitable[bool]) -> bool:
        return not await check

    async def spike(self) -> None:
        from hld.app.load import run_load_async
        from hld.app.workload import Burst

        api = self.plane.config.gateway
        limit = f"{SPIKE_LIMIT_RPS:g}"
        self.say(f"a traffic spike (+{SPIKE_EXTRA_RPS:g} requests/s for 3 s) against a "
                 f"per-client limit of {limit} requests/s")
        switched: list[asyncio.Task[Any]] = []

        def limit_after_set_up(_: object) -> None:
            # The load's own set-up (log-ins, follows) runs unthrottled; the limit then
            # applies to the load phase only.
            switched.append(asyncio.ensure_future(self.plane.switch(
                "rate_limit", limit, route="api", burst=int(SPIKE_LIMIT_RPS))))

        try:
            result = await run_load_async(self.load(
                rps=5, duration_s=12, seed=3, bursts=(Burst(SPIKE_EXTRA_RPS, 4.0, 3.0),)),
                on_setup=limit_after_set_up)
        finally:
            for task in switched:
                await task
            await self.plane.switch("rate_limit", f"{api.api_rate_per_s:g}", route="api",
                                    burst=api.api_burst)
        overall = result.overall
        inside, outside = result.ok_p50_ms_in_burst, result.ok_p50_ms_outside_burst
        # The limiter turns the excess away at the door instead of queueing it.
        # NaN (no admitted request in the spike) fails.
        kept = inside <= result.ok_p99_ms_outside_burst + SPIKE_P50_SLACK_MS
        ok = overall.status_429 > 0 and overall.status_5xx == 0 and kept
        self.steps.append(Step(
            "traffic spike answered with 429s",
            f"{overall.status_429} of {overall.completed} requests got 429, "
            f"{overall.status_5xx} got 5xx; admitted p50 {inside:.0f} ms during the spike "
            f"(p99 outside it {result.ok_p99_ms_outside_burst:.0f} ms; p50 outside "
            f"{outside:.0f} ms, p99 inside {result.ok_p99_ms_in_burst:.0f} ms)", ok))

    async def fail_over(self) -> None:
        import httpx
        import redis.asyncio

        cfg = self.plane.config
        self.say("posting steadily, then killing the store primary (kill -9)")
        async with httpx.AsyncClient(base_url=self.gateway, timeout=5.0) as client:
            token, uid = await self.account(client, f"demo_{int(time.time()) % 100000}")
            headers = {"authorization": f"Bearer {token}"}
            acked: list[int] = []   # acknowledged after WAIT confirmed the replica had it
            unconfirmed = 0         # answered 201 without a replica (e.g. after failover)
            failed = 0

            async def post_for(seconds: float) -> None:
                nonlocal failed, unconfirmed
                until = time.monotonic() + seconds
                n = 0
                while time.monotonic() < until:
                    n += 1
                    try:
                        r = await client.post("/api/posts", json={"text": f"post {n} #failover"},
                                              headers=headers)
                    except httpx.HTTPError:
                        failed += 1
                        continue
                    if r.status_code == 201:
                        post = r.json()
                        if int(post.get("replicas_acked", 0)) >= 1:
                            acked.append(int(post["id"]))
                        else:
                            unconfirmed += 1
                    elif r.status_code != 429:
                        failed += 1
                    await asyncio.sleep(0.5)  # stay under the per-user post limit

            await post_for(3)
            await self.plane.fault("store-primary", "kill")
            promoted_after = await self.wait_for(self._promoted, 30)
            await post_for(3)
        client_new = redis.asyncio.Redis(host=self.plane.host, port=cfg.store.replica_port,
                                         socket_timeout=3)
        try:
            stored = {int(x) for x in await client_new.lrange(f"chirp:posts:{uid}", 0, -1)}
        finally:
            await client_new.aclose()
        lost = [p for p in acked if p not in stored]
        ok = promoted_after is not None and not lost and len(acked) > 0
        self.steps.append(Step(
            "store primary killed, replica promoted",
            f"promoted after {_secs(promoted_after)}; {len(acked)} posts acknowledged after "
            f"WAIT, {len(lost)} of them lost; {unconfirmed} acknowledged without a replica; "
            f"{failed} requests failed during the switch", ok))

    async def _promoted(self) -> bool:
        return self.plane.primary == "store-replica"

    async def pause_workers(self) -> None:
        import httpx
        import redis.asyncio

        workers = [n for n in self.plane.components() if n.startswith("worker-")]
        self.say(f"pausing {', '.join(workers)} (SIGSTOP) while posts keep coming")
        port = (self.plane.config.store.primary_port if self.plane.primary == "store-primary"
                else self.plane.config.store.replica_port)
        store = redis.asyncio.Redis(host=self.plane.host, port=port, socket_timeout=3)

        async def lag() -> int:
            groups = await store.xinfo_groups("chirp:fanout")
            return sum(int(g.get("lag") or 0) + int(g.get("pending") or 0) for g in groups)

        for name in workers:
            await self.plane.fault(name, "pause")
        peak = 0
        try:
            async with httpx.AsyncClient(base_url=self.gateway, timeout=5.0) as client:
                tokens = []
                for i in range(10):
                    token, _ = await self.account(client,
                                                  f"demo_q{i}_{int(time.time()) % 100000}")
                    tokens.append(token)
                for round_ in range(3):
                    for token in tokens:
                        await client.post("/api/posts", json={"text": f"queued {round_}"},
                                          headers={"authorization": f"Bearer {token}"})
                    peak = max(peak, await lag())
        finally:
            for name in workers:
                await self.plane.fault(name, "resume")
        drained_after = await self.wait_for(lambda: self._zero(lag()), 60)
        await store.aclose()
        ok = peak > 0 and drained_after is not None
        self.steps.append(Step("workers paused, queue grew, then drained",
                               f"queue lag peaked at {peak} messages; drained "
                               f"{_secs(drained_after)} after the workers resumed", ok))

    async def _zero(self, value: Awaitable[int]) -> bool:
        return await value == 0

    async def run(self) -> bool:
        from hld.runtime.report import emit

        for step in (self.spread_and_warm_up, self.kill_an_app, self.spike, self.fail_over,
                     self.pause_workers):
            try:
                await step()
            except Exception as exc:  # noqa: BLE001 - one broken step must not hide the rest
                self.steps.append(Step(step.__name__.replace("_", " "),
                                       f"could not run: {type(exc).__name__}: {exc}", False))
        emit("demo", [s.row() for s in self.steps], self.fmt,
             title="hld demo: the roadmap, working", columns=["step", "observed", "ok"])
        return all(s.ok for s in self.steps)


def _secs(value: float | None) -> str:
    return "never (timed out)" if value is None else f"{value:.1f}s"


def run(args: argparse.Namespace) -> int:
    from hld.control.up import load_plane, serve

    plane = load_plane(args.config)
    outcome: dict[str, bool] = {}

    async def after_start(running: object) -> bool:
        scenario = Scenario(running, args.format)
        outcome["ok"] = await scenario.run()
        if not args.exit:
            print("demo: the system stays up; open the dashboard, Ctrl-C to stop", flush=True)
        return not args.exit

    status = asyncio.run(serve(plane, after_start))
    if status:
        return status
    return 0 if outcome.get("ok") else 1
