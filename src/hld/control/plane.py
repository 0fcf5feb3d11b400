"""The control plane: brings the system up, keeps watch, fails over, injects faults.

Start order: fault proxies, then the store primary, its replica and the cache node,
then the app servers and workers, then the gateway. Every service listens on its
internal port behind a ``FaultProxy`` on its public port (see ``system``).

Failover works as Redis Sentinel's does, reduced to one watcher: when the primary has
not answered PING for ``store.failover_after_s``, the replica is promoted
(``REPLICAOF NO ONE``) and ``DATA_DIR/topology.json`` is rewritten to name it; the apps
and workers watch that file and reconnect. Posts are acknowledged only after ``WAIT``
for the replica, so an acknowledged post survives the primary's death. (WAIT does not
make the pair strongly consistent: a write the replica never got before the promotion
is lost, and its client got no acknowledgement.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hld.control.faults import FaultProxy
from hld.control.observe import Collector, store_client
from hld.control.supervisor import ProcessSpec, Supervisor, hld_argv, port_free
from hld.control.system import SystemConfig

EVENTS_MAX = 2000
REPLICA_SYNC_TIMEOUT_S = 60.0  # a replica's first full sync, before the apps start
MONITOR_PERIOD_S = 0.5   # how often the primary is pinged
PING_TIMEOUT_S = 1.0     # a primary slower than this to answer PING counts as down
COLLECT_PERIOD_S = 1.0   # how often the dashboard's snapshot is taken
FAULT_ACTIONS = ("kill", "pause", "resume", "restart", "latency", "bandwidth", "reset",
                 "blackhole", "down", "clear")
POLICY_KINDS = ("balance", "eviction", "rate_limit")


class ControlError(ValueError):
    """A request to the control plane that cannot be carried out; the message says why."""


class ControlPlane:
    """One running system."""

    def __init__(self, config: SystemConfig, *, config_path: str | None = None,
                 announce: Callable[[str], None] = print) -> None:
        self.config = config
        self.config_path = config_path
        self.announce = announce
        self.data_dir = Path(config.data_dir).resolve()
        self.host = config.host
        self.events: deque[dict[str, Any]] = deque(maxlen=EVENTS_MAX)
        self.supervisor = Supervisor(self.data_dir, self.host, on_event=self.event)
        self.proxies: dict[str, FaultProxy] = {}
        self.primary = "store-primary"
        self.replica: str | None = "store-replica"
        self.primary_down_since: float | None = None
        self.monitor_task: asyncio.Task[None] | None = None
        self.collect_task: asyncio.Task[None] | None = None
        self.started_at = time.time()
        self.collector = Collector(self)

    # -- events ----------------------------------------------------------------------

    def event(self, kind: str, **fields: Any) -> None:
        record = {"ts": round(time.time(), 3), "kind": kind, **fields}
        self.events.append(record)
        line = json.dumps({"level": "info", "event": kind, "component": "control", **record})
        with contextlib.suppress(OSError), (self.supervisor.logs / "control.log").open("a") as log:
            log.write(line + "\n")

    # -- preparing ---------------------------------------------------------------------

    def check_ports(self) -> None:
        taken = [(name, port) for name, port in self.config.public_ports().items()
                 if not port_free(self.host, port)]
        if taken:
            what = ", ".join(f"{port} ({name})" for name, port in taken)
            raise ControlError(f"port{'s' if len(taken) > 1 else ''} {what} already in use; "
                               "is the system already up? (`hld status`, `hld down`)")

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = self.data_dir / "jwt.key"
        if not key.exists():
            key.write_text(secrets.token_hex(32))
            key.chmod(0o600)
        (self.data_dir / "gateway.toml").write_text(self.gateway_toml())
        self.write_topology()

    def jwt_secret(self) -> str:
        return (self.data_dir / "jwt.key").read_text().strip()

    def write_topology(self) -> None:
        cfg = self.config
        primary_port = (cfg.store.primary_port if self.primary == "store-primary"
                        else cfg.store.replica_port)
        topology: dict[str, Any] = {
            "store_primary": f"{self.host}:{primary_port}",
            "store_replica": (f"{self.host}:{cfg.store.replica_port}"
                              if self.replica is not None else None),
            "cache": f"{self.host}:{cfg.cache.port}",
            "updated_at": time.time(),
        }
        path = self.data_dir / "topology.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(topology))
        tmp.replace(path)

    def gateway_toml(self) -> str:
        cfg = self.config
        g = cfg.gateway
        servers = ", ".join(f'"http://{self.host}:{p}"' for p in cfg.app_ports)
        return f"""# Generated by `hld up` from {cfg.source}; overwritten on every start.
[gateway]
workers = {g.workers}
access_log = true
data_dir = "{self.data_dir / 'gateway'}"

[[listeners]]
address = "{self.host}:{g.port}"

[admin]
address = "{self.host}:{g.admin_port}"

[auth.jwt]
hmac_secrets = {{ chirp = "{self.jwt_secret()}" }}
issuer = "chirp"
audience = "chirp"
leeway_s = 5

[upstreams.app]
servers = [{servers}]
balance = "{g.balance}"
timeout_s = 10
retries = 2
retry_backoff = "full"
max_concurrent = 512
queue = 512
health_check = {{ path = "/healthz", interval_s = 1.0, timeout_s = 3.0 }}
outlier = {{ consecutive_failures = 3, base_ejection_s = 5.0, max_ejection_pct = 50.0 }}
breaker = {{ failure_rate_pct = 50.0, window = 50, minimum_calls = 20, open_s = 3.0 }}

[[routes]]
name = "signup"
prefix = "/api/signup"
upstream = "app"
methods = ["POST"]
rate_limit = {{ rate = 20, per_s = 1, burst = 40, key = "ip" }}

[[routes]]
name = "login"
prefix = "/api/login"
upstream = "app"
methods = ["POST"]
rate_limit = {{ rate = 20, per_s = 1, burst = 40, key = "ip" }}

[[routes]]
name = "posts"
prefix = "/api/posts"
upstream = "app"
auth = "jwt"
rate_limit = {{ rate = {g.post_rate_per_s}, per_s = 1, burst = {g.post_burst}, key = "subject" }}

[[routes]]
name = "stream"
prefix = "/api/stream"
upstream = "app"
auth = "jwt"
timeout_s = 3600
gzip = false

[[routes]]
name = "api"
prefix = "/api"
upstream = "app"
auth = "jwt"
rate_limit = {{ rate = {g.api_rate_per_s}, per_s = 1, burst = {g.api_burst}, key = "ip" }}

[[routes]]
name = "root"
prefix = "/"
upstream = "app"
"""

    # -- what runs ---------------------------------------------------------------------

    def specs(self) -> list[ProcessSpec]:
        cfg = self.config
        internal = cfg.internal
        data = self.data_dir
        specs = []
        primary_dir = data / "store-primary"
        replica_dir = data / "store-replica"
        for directory in (primary_dir, replica_dir):
            directory.mkdir(parents=True, exist_ok=True)
        specs.append(self._store_spec("store-primary", internal(cfg.store.primary_port),
                                      primary_dir, persistent=True))
        specs.append(self._store_spec("store-replica", internal(cfg.store.replica_port),
                                      replica_dir, persistent=True,
                                      replicaof=cfg.store.primary_port))
        specs.append(self._store_spec("cache", internal(cfg.cache.port), data / "cache",
                                      persistent=False))
        common = ["--data-dir", str(data)]
        if self.config_path:
            common += ["--config", self.config_path]
        for i, port in enumerate(cfg.app_ports, 1):
            specs.append(ProcessSpec(f"app-{i}", "app", hld_argv(
                "app", "--port", str(internal(port)), "--name", f"app-{i}", *common),
                internal(port)))
        specs.extend(ProcessSpec(f"worker-{i}", "worker", hld_argv(
            "worker", "--index", str(i), "--metrics-port", str(port), *common), port)
            for i, port in enumerate(cfg.worker_metrics_ports, 1))
        specs.append(ProcessSpec("gateway", "gateway", hld_argv(
            "gateway", "--config", str(data / "gateway.toml")), cfg.gateway.port))
        return specs

    def _store_spec(self, name: str, port: int, directory: Path, *, persistent: bool,
                    replicaof: int | None = None) -> ProcessSpec:
        cfg = self.config
        directory.mkdir(parents=True, exist_ok=True)
        if cfg.store.backend == "redis":
            redis = shutil.which("redis-server")
            if redis is None:
                raise ControlError("store.backend = \"redis\" needs redis-server on PATH "
                                   "(apt-get install redis-server)")
            argv = [redis, "--port", str(port), "--bind", self.host, "--dir", str(directory),
                    "--save", "", "--appendonly", "yes" if persistent else "no",
                    "--appendfsync", cfg.store.appendfsync, "--protected-mode", "no"]
            if not persistent:
                argv += ["--maxmemory", cfg.cache.maxmemory,
                         "--maxmemory-policy", _redis_policy(cfg.cache.policy)]
        else:
            argv = hld_argv("store", "--port", str(port), "--bind", self.host,
                            "--dir", str(directory), "--metrics-port",
                            str(cfg.store_metrics_ports[name]), "--metrics-bind", self.host)
            if persistent:
                # verbose: the store logs the request ids its XADDs carry (hld logs
                # --request-id follows a post through it); the replica's lines say replica
                argv += ["--appendonly", "yes", "--appendfsync", cfg.store.appendfsync,
                         "--loglevel", "verbose"]
            else:
                argv += ["--appendonly", "no", "--maxmemory", cfg.cache.maxmemory,
                         "--maxmemory-policy", cfg.cache.policy]
        if replicaof is not None:
            argv += ["--replicaof", self.host, str(replicaof)]
        return ProcessSpec(name, "store" if persistent else "cache", argv, port)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        cfg = self.config
        internal = cfg.internal
        links = {"store-primary": cfg.store.primary_port, "store-replica": cfg.store.replica_port,
                 "cache": cfg.cache.port}
        for i, port in enumerate(cfg.app_ports, 1):
            links[f"app-{i}"] = port
        for name, port in links.items():
            proxy = FaultProxy(name, self.host, port, internal(port))
            await proxy.start()
            self.proxies[name] = proxy
        for spec in self.specs():
            front = self.proxies.get(spec.name)
            where = (f" on :{front.listen_port} (itself on :{spec.port}, behind its fault "
                     "proxy)" if front is not None else f" (metrics on :{spec.port})"
                     if spec.kind == "worker" else f" on :{spec.port}" if spec.port else "")
            self.announce(f"  starting {spec.name}{where}")
            self.supervisor.start(spec)
            await asyncio.to_thread(self.supervisor.wait_ready, spec.name)
            if spec.name == "store-replica":
                await self.wait_replica_synced()
        self.supervisor.write_state(self.urls())
        loop = asyncio.get_running_loop()
        self.monitor_task = loop.create_task(self.monitor())
        self.collect_task = loop.create_task(self.collect())
        self.event("up", components=len(self.supervisor.order))

    async def wait_replica_synced(self, timeout_s: float = REPLICA_SYNC_TIMEOUT_S) -> None:
        """Wait until the replica's link to the primary is up, so that the first posts'
        WAIT finds a replica to acknowledge them (a listening replica may still be in
        its initial sync)."""
        import redis.asyncio

        client = redis.asyncio.Redis(host=self.host, port=self.config.store.replica_port,
                                     socket_timeout=1.0, socket_connect_timeout=1.0)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError, redis.RedisError):
                    info = await client.info("replication")
                    if info.get("master_link_status") == "up":
                        return
                await asyncio.sleep(0.1)
        finally:
            await client.aclose()
        self.announce(f"  warning: the replica did not finish its first sync within "
                      f"{timeout_s:.0f}s; posts are acknowledged without it until it does")

    def urls(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "gateway": f"http://{self.host}:{cfg.gateway.port}",
            "dashboard": f"http://{self.host}:{cfg.control.port}",
            "gateway_metrics": f"http://{self.host}:{cfg.gateway.admin_port}/metrics",
            "store": f"redis://{self.host}:{cfg.store.primary_port}",
            "replica": f"redis://{self.host}:{cfg.store.replica_port}",
            "cache": f"redis://{self.host}:{cfg.cache.port}",
            "sql": cfg.sql_url,
            "data_dir": str(self.data_dir),
        }

    async def stop(self) -> None:
        for task in (self.monitor_task, self.collect_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await asyncio.to_thread(self.supervisor.stop_all)
        for proxy in self.proxies.values():
            await proxy.close()
        with contextlib.suppress(OSError):
            (self.data_dir / "system.json").unlink()

    async def collect(self) -> None:
        """Once a second: a metrics snapshot for the dashboard (apart from the watch, so a
        slow scrape never delays a failover)."""
        while True:
            await asyncio.sleep(COLLECT_PERIOD_S)
            with contextlib.suppress(Exception):  # a broken scrape must not stop the loop
                await self.collector.snapshot()

    async def monitor(self) -> None:
        """Twice a second: notice exits, watch the primary, fail over when it is gone."""
        import redis.asyncio

        while True:
            await asyncio.sleep(MONITOR_PERIOD_S)
            self.supervisor.poll()
            port = (self.config.store.primary_port if self.primary == "store-primary"
                    else self.config.store.replica_port)
            client = store_client(self.host, port, PING_TIMEOUT_S)
            try:
                await client.ping()
                self.primary_down_since = None
            except (OSError, redis.RedisError):
                now = time.monotonic()
                if self.primary_down_since is None:
                    self.primary_down_since = now
                    self.event("primary_unreachable", component=self.primary)
                elif now - self.primary_down_since >= self.config.store.failover_after_s:
                    await self.failover()
            finally:
                await client.aclose()

    async def failover(self) -> None:
        """Promote the replica and repoint everyone at it."""
        import redis.asyncio

        if self.replica is None:
            self.event("failover_impossible", reason="no replica left")
            self.primary_down_since = None
            return
        client = store_client(self.host, self.config.store.replica_port, 2.0)
        try:
            await client.execute_command("REPLICAOF", "NO", "ONE")
        except (OSError, redis.RedisError) as exc:
            self.event("failover_failed", error=str(exc))
            return
        finally:
            await client.aclose()
        old = self.primary
        self.primary, self.replica = self.replica, None
        self.primary_down_since = None
        self.write_topology()
        self.event("failover", old_primary=old, new_primary=self.primary)

    # -- faults and policies -------------------------------------------------------------

    def components(self) -> list[str]:
        return list(self.supervisor.order)

    async def fault(self, target: str, action: str, **params: Any) -> dict[str, Any]:
        """Break ``target`` on purpose: process actions or link faults through its proxy."""
        if action not in FAULT_ACTIONS:
            raise ControlError(f"unknown action {action!r}; choose one of "
                               f"{', '.join(FAULT_ACTIONS)}")
        if target not in self.supervisor.children:
            raise ControlError(f"unknown component {target!r}; known: "
                               f"{', '.join(self.components())}")
        sup = self.supervisor
        try:
            if action == "kill":
                await asyncio.to_thread(sup.kill, target)
            elif action == "pause":
                sup.pause(target)
            elif action == "resume":
                sup.resume(target)
            elif action == "restart":
                await asyncio.to_thread(sup.restart, target)
            else:
                proxy = self.proxies.get(target)
                if proxy is None:
                    raise ControlError(f"{target} has no fault proxy in front of it; link "
                                       f"faults apply to {', '.join(self.proxies)}")
                if action == "clear":
                    proxy.clear()
                elif action == "latency":
                    proxy.set(latency_ms=float(params.get("ms", 200)),
                              jitter_ms=float(params.get("jitter_ms", 0)))
                elif action == "bandwidth":
                    proxy.set(bandwidth_kbps=float(params.get("kbps", 64)))
                else:
                    proxy.set(**{action: True})
        except (RuntimeError, ValueError, KeyError) as exc:
            raise ControlError(str(exc)) from None
        self.event("fault", component=target, action=action, **params)
        self.supervisor.write_state(self.urls())  # new pids for `hld status` and `hld down`
        return {"component": target, "action": action, **params}

    async def switch(self, kind: str, value: str, **params: Any) -> dict[str, Any]:
        """Change a policy live: the balancer, the cache node's eviction, a rate limit."""
        import httpx
        import redis.asyncio

        cfg = self.config
        admin = f"http://{self.host}:{cfg.gateway.admin_port}"
        if kind == "balance":
            async with httpx.AsyncClient(timeout=2.0) as client:
                reply = await client.post(f"{admin}/upstreams/app/balance",
                                          params={"algorithm": value})
            if reply.status_code != 200:
                raise ControlError(reply.json().get("error", reply.text))
        elif kind == "eviction":
            cache = store_client(self.host, cfg.cache.port, 2.0)
            try:
                await cache.config_set("maxmemory-policy", value)
            except redis.RedisError as exc:
                raise ControlError(f"cache node refused {value!r}: {exc}") from None
            finally:
                await cache.aclose()
        elif kind == "rate_limit":
            async with httpx.AsyncClient(timeout=2.0) as client:
                reply = await client.post(f"{admin}/routes/{params.get('route', 'posts')}"
                                          "/rate_limit",
                                          params={"rate": value,
                                                  "burst": params.get("burst", 5)})
            if reply.status_code != 200:
                raise ControlError(reply.json().get("error", reply.text))
        else:
            raise ControlError(f"unknown policy {kind!r}; choose one of {', '.join(POLICY_KINDS)}")
        self.event("policy", policy=kind, value=value, **params)
        return {"policy": kind, "value": value, **params}


def _redis_policy(policy: str) -> str:
    """redis-server knows the standard policies; ours map to the nearest of them."""
    return {"allkeys-slru": "allkeys-lru", "allkeys-sieve": "allkeys-lru",
            "allkeys-wtinylfu": "allkeys-lfu"}.get(policy, policy)

