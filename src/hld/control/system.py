"""The reference system's configuration: ``system.toml``, or the embedded defaults.

Every process of ``hld up`` is configured from one ``SystemConfig``. Each service
listens on an internal port and is reached through a fault-injecting TCP proxy on its
public port (``hld.control.faults``), so the control plane can add latency, cut
bandwidth, reset or black-hole any link without touching the service::

    client ─▶ gateway :8080 ─▶ proxy :8101 ─▶ app-1 :18101 ─▶ proxy :7379 ─▶ store-primary :17379
                               proxy :8102 ─▶ app-2 :18102     proxy :7380 ─▶ store-replica :17380
                                               workers xN ─────▶ proxy :7381 ─▶ cache :17381
                                               SQL: a SQLite file (or PostgreSQL by URL)
    control plane + dashboard :8400

Errors name the file and the dotted key (``system.toml: app.count: must be between 2
and 8, got 1``); unknown keys are errors, so a typo never silently keeps a default.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from hld.core.kv.evict import POLICIES as EVICTION_POLICIES
from hld.gateway.config import BALANCERS

WRITE_POLICIES = ("cache-aside", "write-through", "write-around")
STORE_BACKENDS = ("hld", "redis")
PROXY_PORT_OFFSET = 10_000  # internal port = public port + this


class SystemConfigError(ValueError):
    """The system configuration is wrong; the message names the file and key."""


@dataclass(frozen=True, slots=True)
class GatewaySection:
    port: int = 8080
    admin_port: int = 8090
    workers: int = 1
    balance: str = "round_robin"
    post_rate_per_s: float = 2.0     # posts per user per second (GCRA rate)
    post_burst: int = 5
    api_rate_per_s: float = 200.0    # all API calls per client address
    api_burst: int = 400


@dataclass(frozen=True, slots=True)
class AppSection:
    count: int = 2
    base_port: int = 8101
    sql_url: str = ""                # empty: a SQLite file under data_dir
    write_policy: str = "cache-aside"
    cache_ttl_s: float = 60.0
    fanout_read_threshold: int = 50  # authors with more followers are merged at read time
    timeline_length: int = 200
    jwt_ttl_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class WorkerSection:
    count: int = 2
    visibility_timeout_s: float = 5.0
    max_deliveries: int = 5
    batch: int = 32
    metrics_base_port: int = 8200    # worker N serves Prometheus /metrics on this + N


@dataclass(frozen=True, slots=True)
class StoreSection:
    backend: str = "hld"             # "redis" runs redis-server instead of hld-store
    primary_port: int = 7379
    replica_port: int = 7380
    appendfsync: str = "everysec"
    wait_replicas: int = 1           # posts are acknowledged after WAIT for this many
    wait_timeout_ms: int = 200
    failover_after_s: float = 3.0    # primary unreachable this long → promote the replica
    # hld-store nodes serve Prometheus /metrics on this + 1 (primary), + 2 (replica),
    # + 3 (cache node); a redis-server backend has none (the dashboard reads INFO)
    metrics_base_port: int = 8300


@dataclass(frozen=True, slots=True)
class CacheSection:
    port: int = 7381
    maxmemory: str = "64mb"
    policy: str = "allkeys-lru"


@dataclass(frozen=True, slots=True)
class ControlSection:
    port: int = 8400


@dataclass(frozen=True, slots=True)
class SystemConfig:
    data_dir: str = ".hld"
    host: str = "127.0.0.1"
    gateway: GatewaySection = field(default_factory=GatewaySection)
    app: AppSection = field(default_factory=AppSection)
    workers: WorkerSection = field(default_factory=WorkerSection)
    store: StoreSection = field(default_factory=StoreSection)
    cache: CacheSection = field(default_factory=CacheSection)
    control: ControlSection = field(default_factory=ControlSection)
    source: str = "<defaults>"

    # -- derived addresses -------------------------------------------------------------

    @staticmethod
    def internal(port: int) -> int:
        """Where a service really listens; its public port belongs to its fault proxy."""
        return port + PROXY_PORT_OFFSET

    @property
    def app_ports(self) -> list[int]:
        return [self.app.base_port + i for i in range(self.app.count)]

    @property
    def worker_metrics_ports(self) -> list[int]:
        return [self.workers.metrics_base_port + i for i in range(1, self.workers.count + 1)]

    @property
    def store_metrics_ports(self) -> dict[str, int]:
        """Each hld-store node's /metrics port, by component name (none on redis-server)."""
        if self.store.backend != "hld":
            return {}
        base = self.store.metrics_base_port
        return {"store-primary": base + 1, "store-replica": base + 2, "cache": base + 3}

    @property
    def sql_url(self) -> str:
        return self.app.sql_url or f"sqlite:///{Path(self.data_dir).resolve() / 'chirp.db'}"

    def public_ports(self) -> dict[str, int]:
        """Every port the system binds, by what binds it (for the busy-port check)."""
        ports = {
            "gateway": self.gateway.port, "gateway admin": self.gateway.admin_port,
            "control plane": self.control.port,
            "store primary": self.store.primary_port,
            "store replica": self.store.replica_port, "cache node": self.cache.port,
        }
        for i, port in enumerate(self.app_ports, 1):
            ports[f"app-{i}"] = port
        for name, port in list(ports.items()):
            if name not in ("gateway", "gateway admin", "control plane"):
                ports[f"{name} (internal)"] = self.internal(port)
        for i, port in enumerate(self.worker_metrics_ports, 1):
            ports[f"worker-{i} metrics"] = port
        for name, port in self.store_metrics_ports.items():
            ports[f"{name} metrics"] = port
        return ports


_SECTIONS: dict[str, type[Any]] = {
    "gateway": GatewaySection, "app": AppSection, "workers": WorkerSection,
    "store": StoreSection, "cache": CacheSection, "control": ControlSection,
}
_RANGES: dict[str, tuple[float, float]] = {
    "app.count": (2, 8), "workers.count": (1, 16), "gateway.workers": (1, 16),
    "workers.max_deliveries": (1, 100), "workers.batch": (1, 1000),
    "store.wait_replicas": (0, 1), "app.timeline_length": (10, 10_000),
}


def load(path: str | Path | None) -> SystemConfig:
    """The configuration in ``path``, or the embedded defaults when ``path`` is None."""
    if path is None:
        return validate(SystemConfig())
    source = str(path)
    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise SystemConfigError(f"{source}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SystemConfigError(f"{source}: not valid TOML: {exc}") from None
    return from_mapping(data, source)


def from_mapping(data: Mapping[str, Any], source: str = "<config>") -> SystemConfig:
    config = SystemConfig(source=source)
    top: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS:
            if not isinstance(value, Mapping):
                raise SystemConfigError(f"{source}: {key}: expected a table [{key}]")
            section = getattr(config, key)
            top[key] = replace(section, **_section_values(section, value, key, source))
        elif key in ("data_dir", "host"):
            if not isinstance(value, str) or not value:
                raise SystemConfigError(f"{source}: {key}: expected a non-empty string")
            top[key] = value
        else:
            raise SystemConfigError(f"{source}: {key}: unknown key (known: data_dir, host, "
                                    f"{', '.join(_SECTIONS)})")
    return validate(replace(config, **top))


def _section_values(section: Any, values: Mapping[str, Any], name: str,
                    source: str) -> dict[str, Any]:
    known = {f.name: f for f in fields(section)}
    out: dict[str, Any] = {}
    for key, value in values.items():
        where = f"{source}: {name}.{key}"
        if key not in known:
            raise SystemConfigError(f"{where}: unknown key (known: {', '.join(known)})")
        default = getattr(section, key)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            raise SystemConfigError(f"{where}: expected {type(default).__name__}, "
                                    f"got {value!r}")
        out[key] = float(value) if isinstance(default, float) else value
    return out


def validate(config: SystemConfig) -> SystemConfig:
    source = config.source

    def fail(key: str, problem: str) -> SystemConfigError:
        return SystemConfigError(f"{source}: {key}: {problem}")

    for section_name in _SECTIONS:
        section = getattr(config, section_name)
        for f in fields(section):
            key = f"{section_name}.{f.name}"
            value = getattr(section, f.name)
            if key in _RANGES:
                low, high = _RANGES[key]
                if not low <= value <= high:
                    raise fail(key, f"must be between {low:g} and {high:g}, got {value}")
            elif isinstance(value, int | float) and not isinstance(value, bool):
                if f.name.endswith("port"):
                    if not 1024 <= value <= 65535 - PROXY_PORT_OFFSET:
                        raise fail(key, f"must be between 1024 and "
                                        f"{65535 - PROXY_PORT_OFFSET}, got {value}")
                elif value <= 0 and f.name != "wait_replicas":
                    raise fail(key, f"must be > 0, got {value}")
    if config.gateway.balance not in BALANCERS:
        raise fail("gateway.balance", f"{config.gateway.balance!r} is not one of "
                                      f"{', '.join(BALANCERS)}")
    if config.app.write_policy not in WRITE_POLICIES:
        raise fail("app.write_policy", f"{config.app.write_policy!r} is not one of "
                                       f"{', '.join(WRITE_POLICIES)}")
    if config.store.backend not in STORE_BACKENDS:
        raise fail("store.backend", f"{config.store.backend!r} is not one of "
                                    f"{', '.join(STORE_BACKENDS)}")
    if config.store.appendfsync not in ("always", "everysec", "no"):
        raise fail("store.appendfsync", "must be always, everysec or no")
    if config.cache.policy not in EVICTION_POLICIES:
        raise fail("cache.policy", f"{config.cache.policy!r} is not one of "
                                   f"{', '.join(EVICTION_POLICIES)}")
    url = config.app.sql_url
    if url and not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise fail("app.sql_url", "use sqlite:///PATH or postgresql://USER@HOST/DB")
    ports = config.public_ports()
    seen: dict[int, str] = {}
    for name, port in ports.items():
        if port in seen:
            raise SystemConfigError(f"{source}: {name} and {seen[port]} both use port {port}")
        seen[port] = name
    return config
