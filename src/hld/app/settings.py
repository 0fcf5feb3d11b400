"""Settings of ``hld app`` and ``hld worker``: system.toml, then flags, then topology.json.

The app sits below the control plane in the layer order, so it cannot import
``hld.control.system``; it reads the few keys it needs from the same ``system.toml``
itself. The defaults below mirror ``SystemConfig``'s (a test keeps them in step), and
validating the whole file stays the control plane's job: here a wrong type for a key
the app uses is reported with the file and dotted key, and everything else is ignored.

Store addresses can change while the app runs (the control plane promotes the replica
when the primary dies): ``DATA_DIR/topology.json`` (written atomically by the control
plane) wins over flags and is re-read whenever its modification time changes.
"""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

WRITE_POLICIES = ("cache-aside", "write-through", "write-around")
JWT_SECRET_CHARS_MIN = 32

# key in system.toml -> (field, type); the defaults are SystemConfig's
_TOML_KEYS: dict[str, tuple[str, type]] = {
    "data_dir": ("data_dir", str), "host": ("host", str),
    "app.sql_url": ("sql_url", str), "app.write_policy": ("write_policy", str),
    "app.cache_ttl_s": ("cache_ttl_s", float),
    "app.fanout_read_threshold": ("fanout_read_threshold", int),
    "app.timeline_length": ("timeline_length", int), "app.jwt_ttl_s": ("jwt_ttl_s", float),
    "workers.visibility_timeout_s": ("visibility_timeout_s", float),
    "workers.max_deliveries": ("max_deliveries", int), "workers.batch": ("batch", int),
    "store.primary_port": ("primary_port", int), "store.replica_port": ("replica_port", int),
    "store.wait_replicas": ("wait_replicas", int),
    "store.wait_timeout_ms": ("wait_timeout_ms", int), "cache.port": ("cache_port", int),
}


class SettingsError(ValueError):
    """A setting is wrong; the message names where it came from and what to do."""


@dataclass(frozen=True, slots=True)
class Settings:
    name: str = "app"
    host: str = "127.0.0.1"
    data_dir: str = ".hld"
    sql_url: str = ""
    write_policy: str = "cache-aside"
    cache_ttl_s: float = 60.0
    fanout_read_threshold: int = 50
    timeline_length: int = 200
    jwt_ttl_s: float = 3600.0
    visibility_timeout_s: float = 5.0
    max_deliveries: int = 5
    batch: int = 32
    primary_port: int = 7379
    replica_port: int = 7380
    wait_replicas: int = 1
    wait_timeout_ms: int = 200
    cache_port: int = 7381
    store_url: str = ""      # flags; empty: host and the ports above
    replica_url: str = ""
    cache_url: str = ""
    jwt_secret_file: str = ""

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def sql(self) -> str:
        return self.sql_url or f"sqlite:///{self.data_path.resolve() / 'chirp.db'}"

    @property
    def topology_path(self) -> Path:
        return self.data_path / "topology.json"

    def addresses(self) -> Topology:
        """Store addresses from the flags and config (topology.json may override them)."""
        return Topology(
            self.store_url or f"redis://{self.host}:{self.primary_port}",
            self.replica_url or (f"redis://{self.host}:{self.replica_port}"
                                 if not self.store_url else ""),
            self.cache_url or f"redis://{self.host}:{self.cache_port}")


@dataclass(frozen=True, slots=True)
class Topology:
    """Where the store primary, its replica ("" for none) and the cache node are."""

    primary: str
    replica: str
    cache: str


def load(config_path: str | None, **overrides: Any) -> Settings:
    """Settings from ``config_path`` (or the defaults), then non-None ``overrides``."""
    values: dict[str, Any] = {}
    if config_path:
        try:
            data = tomllib.loads(Path(config_path).read_text())
        except OSError as exc:
            raise SettingsError(f"{config_path}: cannot read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{config_path}: not valid TOML: {exc}") from None
        for dotted, (name, kind) in _TOML_KEYS.items():
            section, _, key = dotted.rpartition(".")
            table = data.get(section, {}) if section else data
            if not isinstance(table, dict) or key not in table:
                continue
            value = table[key]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise SettingsError(f"{config_path}: {dotted}: expected {kind.__name__}, "
                                    f"got {value!r}")
            values[name] = value
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = replace(Settings(), **values)
    return validate(settings, config_path or "<flags>")


def validate(settings: Settings, source: str) -> Settings:
    if settings.write_policy not in WRITE_POLICIES:
        raise SettingsError(f"{source}: app.write_policy: {settings.write_policy!r} is not "
                            f"one of {', '.join(WRITE_POLICIES)}")
    for name in ("fanout_read_threshold", "timeline_length", "max_deliveries", "batch"):
        if getattr(settings, name) < 1:
            raise SettingsError(f"{source}: {name} must be at least 1")
    for name in ("cache_ttl_s", "jwt_ttl_s", "visibility_timeout_s"):
        if not getattr(settings, name) > 0:
            raise SettingsError(f"{source}: {name} must be > 0")
    if settings.wait_replicas < 0 or settings.wait_timeout_ms < 0:
        raise SettingsError(f"{source}: store.wait_replicas and wait_timeout_ms must be >= 0")
    sql = settings.sql
    if not sql.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise SettingsError(f"{source}: sql url {sql!r}: use sqlite:///PATH or "
                            "postgresql://USER@HOST/DB")
    for url in (settings.store_url, settings.replica_url, settings.cache_url):
        if url and not url.startswith(("redis://", "unix://")):
            raise SettingsError(f"{source}: store url {url!r}: use redis://HOST:PORT")
    return settings


def read_topology(path: Path, fallback: Topology) -> Topology:
    """topology.json's addresses over ``fallback``; a missing or torn file keeps it."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return fallback
    if not isinstance(data, dict):
        return fallback

    def url(key: str, default: str) -> str:
        value = data.get(key)
        if isinstance(value, str) and value:
            return value if "://" in value else f"redis://{value}"
        return default

    return Topology(url("store_primary", fallback.primary),
                    url("store_replica", fallback.replica), url("cache", fallback.cache))


def topology_mtime_ns(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def jwt_secret(settings: Settings) -> bytes:
    """The HMAC secret: the stripped text of the key file, as UTF-8 bytes.

    Text rather than raw bytes so that the same string can sit in the gateway's
    ``hmac_secrets`` table. A missing file is created (64 hex characters, 32 random
    bytes) so a development start needs no set-up; a short one is refused.
    """
    path = Path(settings.jwt_secret_file) if settings.jwt_secret_file \
        else settings.data_path / "jwt.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, path)  # never replaces a key another process just created
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    try:
        secret = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read the JWT secret: {exc}") from None
    if len(secret) < JWT_SECRET_CHARS_MIN:
        raise SettingsError(f"{path}: the JWT secret has {len(secret)} characters; use at "
                            f"least {JWT_SECRET_CHARS_MIN} random ones")
    return secret.encode()
