"""hld-store settings: one ``StoreConfig``, parsed from flags or a redis.conf-like file.

Each setting is a ``Param`` in ``PARAMS`` (name as Redis spells it, parser, renderer,
whether CONFIG SET may change it at run time). The command line (``--maxmemory 100mb``)
and the file (``maxmemory 100mb`` lines, ``#`` comments, quoted values) go through the
same parsers, and a bad value fails with one line naming the key. CONFIG GET answers from
``PARAMS`` against the live config; CONFIG SET parses, stores, then calls the hooks
registered with ``on_change(name, fn)``: the shell wires maxmemory/requirepass; the
durability side wires appendonly/appendfsync/dir and replicaof the same way.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hld.core.kv import savepoints
from hld.core.kv.evict import POLICIES
from hld.core.kv.savepoints import SavePoints


class ConfigError(ValueError):
    """A bad setting; the message names the key and the value."""


@dataclass(slots=True)
class StoreConfig:
    port: int = 7379
    bind: str = "127.0.0.1"
    dir: str = "."
    appendonly: bool = False
    appendfsync: str = "everysec"
    appendfilename: str = "appendonly.aof"
    dbfilename: str = "dump.hld"
    maxmemory: int = 0
    maxmemory_policy: str = "noeviction"
    maxmemory_samples: int = 5
    replicaof: tuple[str, int] | None = None
    requirepass: str | None = None
    masterauth: str | None = None  # the password a replica gives its primary (AUTH)
    masteruser: str | None = None  # the user name with it (AUTH user password)
    save: SavePoints = ()  # save points; the CLI applies Redis' default, see cli.py
    maxclients: int = 10_000
    hz: int = 10
    loglevel: str = "notice"
    aof_load_truncated: bool = True
    metrics_port: int = 0  # the Prometheus /metrics HTTP port; 0: off
    metrics_bind: str = "127.0.0.1"
    extra: dict[str, str] = field(default_factory=dict)


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2,
          "g": 1000**3, "gb": 1024**3}


def parse_memory(text: str) -> int:
    """Redis memory units: 100mb = 100*1024*1024, 1k = 1000, plain bytes."""
    match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
    if match is None or match.group(2).lower() not in _UNITS:
        raise ValueError(f"not a memory size: {text!r} (use e.g. 100mb, 1gb, 4096)")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def parse_bool(text: str) -> bool:
    if text.lower() in ("yes", "1", "true"):
        return True
    if text.lower() in ("no", "0", "false"):
        return False
    raise ValueError(f"expected yes or no, got {text!r}")


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text.lower() not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {text!r}")
        return text.lower()
    return parse


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range: {port}")
    return port


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


def _replicaof(text: str) -> tuple[str, int] | None:
    parts = text.split()
    if [p.lower() for p in parts] == ["no", "one"] or not parts:
        return None
    if len(parts) != 2:
        raise ValueError(f"expected HOST PORT or NO ONE, got {text!r}")
    return parts[0], _port(parts[1])


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return ""
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def _save(text: str) -> SavePoints:
    try:
        return savepoints.parse(text)
    except ValueError:
        raise ValueError(f"{savepoints.INVALID} (pairs of seconds and changes, e.g. "
                         f"'3600 1 300 100', or '' for none): {text!r}") from None


def _render_save(points: SavePoints) -> str:
    return savepoints.render(points)


@dataclass(slots=True)
class Param:
    name: str
    attr: str
    parse: Callable[[str], Any]
    mutable: bool = True
    render: Callable[[Any], str] = _render


PARAMS: dict[str, Param] = {p.name: p for p in (
    Param("port", "port", _port, mutable=False),
    Param("bind", "bind", str, mutable=False),
    Param("dir", "dir", str),
    Param("appendonly", "appendonly", parse_bool),
    Param("appendfsync", "appendfsync", _choice("always", "everysec", "no")),
    Param("appendfilename", "appendfilename", str, mutable=False),
    Param("dbfilename", "dbfilename", str),
    Param("maxmemory", "maxmemory", parse_memory),
    Param("maxmemory-policy", "maxmemory_policy", _choice(*POLICIES)),
    Param("maxmemory-samples", "maxmemory_samples", _positive),
    Param("replicaof", "replicaof", _replicaof),
    Param("requirepass", "requirepass", lambda t: t or None),
    Param("masterauth", "masterauth", lambda t: t or None),
    Param("masteruser", "masteruser", lambda t: t or None),
    Param("save", "save", _save, render=_render_save),
    Param("maxclients", "maxclients", _positive),
    Param("hz", "hz", _positive),
    Param("loglevel", "loglevel", _choice("debug", "verbose", "notice", "warning")),
    Param("aof-load-truncated", "aof_load_truncated", parse_bool),
    Param("metrics-port", "metrics_port", _port, mutable=False),
    Param("metrics-bind", "metrics_bind", str, mutable=False),
)}
ALIASES = {"slaveof": "replicaof"}

_HOOKS: dict[str, list[Callable[[StoreConfig, Any], None]]] = {}


def on_change(name: str, hook: Callable[[StoreConfig, Any], None]) -> None:
    """Call ``hook(config, new_value)`` after CONFIG SET changes ``name``."""
    _HOOKS.setdefault(name, []).append(hook)


def set_value(config: StoreConfig, name: str, text: str, *, runtime: bool = False) -> None:
    """Parse and store one setting; ConfigError names the key on a bad value."""
    key = ALIASES.get(name.lower(), name.lower())
    param = PARAMS.get(key)
    if param is None:
        raise ConfigError(f"unknown setting {name!r}")
    if runtime and not param.mutable:
        raise ConfigError(f"setting {name!r} cannot be changed at run time")
    try:
        value = param.parse(text)
    except ValueError as exc:
        raise ConfigError(f"bad value for {key!r}: {exc}") from None
    setattr(config, param.attr, value)
    if runtime:
        for hook in _HOOKS.get(key, ()):
            hook(config, value)


def get_value(config: StoreConfig, name: str) -> str:
    param = PARAMS[name]
    return param.render(getattr(config, param.attr))


def load_file(config: StoreConfig, path: Path) -> set[str]:
    """Apply ``name value`` lines from a redis.conf-like file; returns the names set."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from None
    applied: set[str] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line)
        except ValueError:
            raise ConfigError(f"{path}:{number}: unbalanced quotes") from None
        name = ALIASES.get(words[0].lower(), words[0].lower()) if words else ""
        earlier = config.save if name == "save" and name in applied else ()
        try:
            set_value(config, name, " ".join(words[1:]))
        except ConfigError as exc:
            raise ConfigError(f"{path}:{number}: {exc}") from None
        if earlier:  # redis.conf: each further `save` line adds its points
            config.save = earlier + config.save if config.save else ()
        applied.add(name)
    return applied


def field_names() -> list[str]:
    return [f.name for f in fields(StoreConfig)]
