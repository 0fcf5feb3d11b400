"""The gateway's configuration: a TOML file, or flags for the simple case.

Every error names the file, the dotted key and what is wrong, e.g.
``gateway.toml: routes[2].upstream: unknown upstream 'ap' (known: app, search)``.
Unknown keys are errors too, so a typo never silently turns a policy off.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hld.gateway import limits

BALANCERS = ("round_robin", "weighted", "random", "least_conn", "weighted_least_conn",
             "ewma", "peak_ewma", "p2c", "ip_hash", "key_hash", "resource")
BACKOFFS = ("none", "exponential", "full", "equal", "decorrelated")
AUTH_MODES = ("none", "jwt", "opaque", "any")
LIMIT_KEYS = ("ip", "subject", "api_key", "route")
LIMIT_BACKENDS = ("local", "store", "redis")


class ConfigError(ValueError):
    """The configuration is wrong; the message names the file, the key and the problem."""


@dataclass(frozen=True, slots=True)
class Server:
    url: str
    host: str
    port: int
    weight: int = 1


@dataclass(frozen=True, slots=True)
class HealthCheck:
    path: str = "/healthz"
    interval_s: float = 2.0
    timeout_s: float = 1.0


@dataclass(frozen=True, slots=True)
class Outlier:
    consecutive_failures: int = 5
    base_ejection_s: float = 30.0
    max_ejection_pct: float = 50.0


@dataclass(frozen=True, slots=True)
class Breaker:
    failure_rate_pct: float = 50.0
    window: int = 20
    minimum_calls: int = 10
    open_s: float = 5.0
    half_open_probes: int = 3
    slow_call_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Upstream:
    name: str
    servers: tuple[Server, ...]
    balance: str = "round_robin"
    timeout_s: float = 30.0
    retries: int = 2
    retry_backoff: str = "full"
    retry_base_s: float = 0.01
    retry_cap_s: float = 0.5
    retry_budget_pct: float = 20.0
    retry_budget_min_per_s: float = 10.0
    max_concurrent: int = 256
    queue: int = 256
    queue_timeout_s: float = 1.0
    # Pooled connections idle longer than this are closed instead of reused: below the
    # keep-alive timeout of common upstream servers (uvicorn 5 s), so the gateway does not
    # send a request down a connection the server is closing at that very moment.
    idle_timeout_s: float = 4.0
    health_check: HealthCheck | None = None
    outlier: Outlier = field(default_factory=Outlier)
    breaker: Breaker | None = field(default_factory=Breaker)


@dataclass(frozen=True, slots=True)
class RateLimit:
    rate: float
    per_s: float = 1.0
    burst: int = 1
    key: str = "ip"


@dataclass(frozen=True, slots=True)
class CachePolicy:
    size: int = 1024
    policy: str = "lru"
    ttl_s: float = 60.0


@dataclass(frozen=True, slots=True)
class AccessRule:
    effect: str
    subjects: tuple[str, ...]
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: str | None = None
    name: str = ""


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    prefix: str
    upstream: str
    host: str | None = None
    rewrite: str | None = None
    methods: tuple[str, ...] | None = None
    auth: str = "none"
    rate_limit: RateLimit | None = None
    cache: CachePolicy | None = None
    rules: tuple[AccessRule, ...] = ()
    role_parents: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    gzip: bool = True
    timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class JwtAuth:
    jwks_file: str | None = None
    jwks_url: str | None = None
    hmac_secrets: Mapping[str, str] = field(default_factory=dict)
    issuer: str | None = None
    audience: str | None = None
    leeway_s: float = 30.0


@dataclass(frozen=True, slots=True)
class OpaqueAuth:
    url: str
    prefix: str = "token:"
    cache_s: float = 5.0


@dataclass(frozen=True, slots=True)
class Tls:
    cert: str | None = None
    key: str | None = None
    dev: bool = False


@dataclass(frozen=True, slots=True)
class Listener:
    host: str
    port: int
    tls: Tls | None = None


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Client-side timeouts (defaults in ``limits``); tests and tight deployments lower them."""

    header_s: float = limits.HEADER_TIMEOUT_S
    body_idle_s: float = limits.BODY_IDLE_TIMEOUT_S
    body_s: float = limits.BODY_TIMEOUT_S
    keepalive_s: float = limits.KEEPALIVE_TIMEOUT_S


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    listeners: tuple[Listener, ...]
    upstreams: Mapping[str, Upstream]
    routes: tuple[Route, ...]
    admin: Listener | None = None
    workers: int = 1
    access_log: bool = True
    trusted_proxies: tuple[str, ...] = ()
    jwt: JwtAuth | None = None
    opaque: OpaqueAuth | None = None
    rate_limit_backend: str = "local"
    rate_limit_url: str | None = None
    data_dir: str = ".hld/gateway"
    source: str = "<flags>"
    timeouts: Timeouts = field(default_factory=Timeouts)


# -- reading ---------------------------------------------------------------------------


class _Table:
    """A TOML table being read: typed getters that name the key on error."""

    def __init__(self, data: object, path: str, source: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: {path or 'top level'}: expected a table")
        self.data = data
        self.path = path
        self.source = source
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def fail(self, name: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {self.key(name)}: {problem}")

    def raw(self, name: str) -> Any:
        self.used.add(name)
        return self.data.get(name)

    def has(self, name: str) -> bool:
        return name in self.data

    def text(self, name: str, default: str | None = None, *,
             choices: tuple[str, ...] | None = None) -> Any:
        value = self.raw(name)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.fail(name, f"expected a string, got {value!r}")
        if choices is not None and value not in choices:
            raise self.fail(name, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def number(self, name: str, default: float, *, low: float = 0.0, low_open: bool = True,
               high: float = math.inf) -> float:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            raise self.fail(name, f"expected a number, got {value!r}")
        if (value <= low if low_open else value < low) or value > high:
            bound = f"> {low}" if low_open else f">= {low}"
            raise self.fail(name, f"must be {bound}" + (f" and <= {high}" if high < math.inf
                                                         else "") + f", got {value}")
        return float(value)

    def integer(self, name: str, default: int, *, low: int = 1, high: int = 1 << 31) -> int:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, f"expected an integer, got {value!r}")
        if not low <= value <= high:
            raise self.fail(name, f"must be between {low} and {high}, got {value}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(name, f"expected true or false, got {value!r}")
        return value

    def strings(self, name: str) -> tuple[str, ...] | None:
        value = self.raw(name)
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(name, f"expected a list of non-empty strings, got {value!r}")
        return tuple(value)

    def table(self, name: str) -> _Table | None:
        value = self.raw(name)
        if value is None:
            return None
        return _Table(value, self.key(name), self.source)

    def tables(self, name: str) -> list[_Table]:
        value = self.raw(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(name, "expected an array of tables ([[" + name + "]])")
        return [_Table(item, f"{self.key(name)}[{i}]", self.source) for i, item in enumerate(value)]

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.fail(unknown[0], "unknown key (check the spelling)")


def parse_address(text: str, what: str = "address") -> tuple[str, int]:
    """``host:port`` → (host, port); raises ValueError naming the problem."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{what} {text!r} must look like HOST:PORT, e.g. 127.0.0.1:8080")
    host = host.strip("[]")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{what} {text!r}: port must be a number from 0 to 65535")
    return host, int(port_text)


def parse_server(text: str, weight: int = 1) -> Server:
    parts = urlsplit(text)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"upstream {text!r} must be an http:// URL with a host, "
                         "e.g. http://127.0.0.1:8101")
    if parts.path not in ("", "/") or parts.query:
        raise ValueError(f"upstream {text!r}: give only scheme, host and port; "
                         "rewrite paths in a route")
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise ValueError(f"upstream {text!r}: {exc}") from None
    return Server(f"http://{parts.hostname}:{port}", parts.hostname, port, weight)


def _listener(table: _Table) -> Listener:
    try:
        host, port = parse_address(table.text("address") or "", "address")
    except ValueError as exc:
        raise table.fail("address", str(exc)) from None
    tls = None
    spec = table.raw("tls")
    if spec == "dev":
        tls = Tls(dev=True)
    elif isinstance(spec, Mapping):
        tt = _Table(spec, table.key("tls"), table.source)
        tls = Tls(cert=tt.text("cert"), key=tt.text("key"))
        tt.done()
        if not (tls.cert and tls.key):
            raise table.fail("tls", "give both cert and key files, or tls = \"dev\"")
    elif spec not in (None, False):
        raise table.fail("tls", "expected \"dev\", false or a table with cert and key")
    table.done()
    return Listener(host, port, tls)


def _upstream(name: str, table: _Table) -> Upstream:
    servers = []
    raw = table.raw("servers")
    if not isinstance(raw, list) or not raw:
        raise table.fail("servers", "expected a non-empty list of http:// URLs")
    for index, item in enumerate(raw):
        try:
            if isinstance(item, str):
                servers.append(parse_server(item))
            elif isinstance(item, Mapping):
                st = _Table(item, f"{table.key('servers')}[{index}]", table.source)
                servers.append(parse_server(st.text("url") or "", st.integer("weight", 1)))
                st.done()
            else:
                raise table.fail(f"servers[{index}]", f"expected a URL or {{url, weight}}, "
                                                      f"got {item!r}")
        except ConfigError:
            raise
        except ValueError as exc:
            raise table.fail(f"servers[{index}]", str(exc)) from None
    if len({s.url for s in servers}) != len(servers):
        raise table.fail("servers", "the same server is listed twice")
    health = None
    if (ht := table.table("health_check")) is not None:
        health = HealthCheck(ht.text("path", "/healthz"), ht.number("interval_s", 2.0),
                             ht.number("timeout_s", 1.0))
        ht.done()
    outlier = Outlier()
    if (ot := table.table("outlier")) is not None:
        outlier = Outlier(ot.integer("consecutive_failures", 5), ot.number("base_ejection_s", 30.0),
                          ot.number("max_ejection_pct", 50.0, high=100.0))
        ot.done()
    breaker: Breaker | None = Breaker()
    if table.raw("breaker") is False:
        breaker = None
    elif (bt := table.table("breaker")) is not None:
        breaker = Breaker(bt.number("failure_rate_pct", 50.0, high=100.0), bt.integer("window", 20),
                          bt.integer("minimum_calls", 10), bt.number("open_s", 5.0),
                          bt.integer("half_open_probes", 3), bt.number("slow_call_s", 10.0))
        bt.done()
    upstream = Upstream(
        name=name, servers=tuple(servers),
        balance=table.text("balance", "round_robin", choices=BALANCERS),
        timeout_s=table.number("timeout_s", 30.0),
        retries=table.integer("retries", 2, low=0, high=4),
        retry_backoff=table.text("retry_backoff", "full", choices=BACKOFFS),
        retry_base_s=table.number("retry_base_s", 0.01),
        retry_cap_s=table.number("retry_cap_s", 0.5),
        retry_budget_pct=table.number("retry_budget_pct", 20.0, low=0, low_open=False, high=100),
        retry_budget_min_per_s=table.number("retry_budget_min_per_s", 10.0, low=0,
                                            low_open=False, high=1e6),
        max_concurrent=table.integer("max_concurrent", 256),
        queue=table.integer("queue", 256, low=0),
        queue_timeout_s=table.number("queue_timeout_s", 1.0),
        idle_timeout_s=table.number("idle_timeout_s", 4.0),
        health_check=health, outlier=outlier, breaker=breaker)
    table.done()
    return upstream


def _route(table: _Table, upstreams: Mapping[str, Upstream]) -> Route:
    name = table.text("name") or table.path
    prefix = table.text("prefix", "/")
    if not prefix.startswith("/"):
        raise table.fail("prefix", f"must start with '/', got {prefix!r}")
    upstream = table.text("upstream")
    if upstream is None:
        raise table.fail("upstream", "missing: name the upstream pool this route sends to")
    if upstream not in upstreams:
        known = ", ".join(sorted(upstreams)) or "none defined"
        raise table.fail("upstream", f"unknown upstream {upstream!r} (known: {known})")
    rewrite = table.text("rewrite")
    if rewrite is not None and not rewrite.startswith("/"):
        raise table.fail("rewrite", f"must start with '/', got {rewrite!r}")
    rate_limit = None
    if (rt := table.table("rate_limit")) is not None:
        rate_limit = RateLimit(rt.number("rate", 0.0), rt.number("per_s", 1.0),
                               rt.integer("burst", 1), rt.text("key", "ip", choices=LIMIT_KEYS))
        if not rt.has("rate"):
            raise rt.fail("rate", "missing: requests allowed per `per_s` seconds")
        rt.done()
    cache = None
    if (ct := table.table("cache")) is not None:
        cache = CachePolicy(ct.integer("size", 1024), ct.text("policy", "lru"),
                            ct.number("ttl_s", 60.0))
        ct.done()
        from hld.core.cache import POLICIES

        if cache.policy not in POLICIES or cache.policy == "opt":
            raise ct.fail("policy", f"unknown cache policy {cache.policy!r} "
                                    f"(known: {', '.join(p for p in POLICIES if p != 'opt')})")
    rules = []
    for rule_table in table.tables("rules"):
        effect = rule_table.text("effect", "allow", choices=("allow", "deny"))
        rule = AccessRule(effect, rule_table.strings("subjects") or ("*",),
                          rule_table.strings("actions") or ("*",),
                          rule_table.strings("resources") or ("/**",),
                          rule_table.text("condition"), rule_table.text("name", ""))
        rule_table.done()
        try:
            from hld.core.auth.expr import compile_expression
            from hld.core.auth.rules import Rule

            Rule(rule.effect, rule.subjects, rule.actions, rule.resources,  # type: ignore[arg-type]
                 rule.condition, rule.name)
            if rule.condition:
                compile_expression(rule.condition)
        except ValueError as exc:
            raise ConfigError(f"{rule_table.source}: {rule_table.path}: {exc}") from None
        rules.append(rule)
    parents: dict[str, tuple[str, ...]] = {}
    if (pt := table.table("role_parents")) is not None:
        for role in list(pt.data):
            parents[str(role)] = pt.strings(str(role)) or ()
        pt.done()
    route = Route(
        name=name, prefix=prefix, upstream=upstream, host=table.text("host"), rewrite=rewrite,
        methods=tuple(m.upper() for m in table.strings("methods") or ()) or None,
        auth=table.text("auth", "none", choices=AUTH_MODES), rate_limit=rate_limit,
        cache=cache, rules=tuple(rules), role_parents=parents, gzip=table.flag("gzip", True),
        timeout_s=table.number("timeout_s", 0.0) or None)
    table.done()
    return route


def load(path: str | Path) -> GatewayConfig:
    """Read and validate a gateway TOML file."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    return from_mapping(data, source)


def from_mapping(data: Mapping[str, Any], source: str = "<config>") -> GatewayConfig:
    top = _Table(data, "", source)
    listeners = tuple(_listener(t) for t in top.tables("listeners"))
    if not listeners:
        raise top.fail("listeners", "missing: add [[listeners]] with address = \"HOST:PORT\"")
    upstream_tables = top.table("upstreams")
    if upstream_tables is None or not upstream_tables.data:
        raise top.fail("upstreams", "missing: add [upstreams.NAME] with servers = [...]")
    upstreams = {}
    for name in list(upstream_tables.data):
        sub = _Table(upstream_tables.raw(str(name)), upstream_tables.key(str(name)), source)
        upstreams[str(name)] = _upstream(str(name), sub)
    upstream_tables.done()
    routes = tuple(_route(t, upstreams) for t in top.tables("routes"))
    if not routes:
        raise top.fail("routes", "missing: add [[routes]] with prefix and upstream")
    admin = None
    if (at := top.table("admin")) is not None:
        admin = _listener(at)
    jwt = None
    opaque = None
    if (auth := top.table("auth")) is not None:
        if (jt := auth.table("jwt")) is not None:
            secrets = {}
            if (st := jt.table("hmac_secrets")) is not None:
                for kid in list(st.data):
                    secrets[str(kid)] = st.text(str(kid)) or ""
                st.done()
            jwt = JwtAuth(jt.text("jwks_file"), jt.text("jwks_url"), secrets, jt.text("issuer"),
                          jt.text("audience"), jt.number("leeway_s", 30.0, low_open=False))
            jt.done()
            if not (jwt.jwks_file or jwt.jwks_url or jwt.hmac_secrets):
                raise auth.fail("jwt", "give jwks_file, jwks_url or hmac_secrets")
        if (ot := auth.table("opaque")) is not None:
            url = ot.text("url")
            if not url:
                raise ot.fail("url", "missing: the store holding tokens, redis://HOST:PORT")
            opaque = OpaqueAuth(url, ot.text("prefix", "token:"), ot.number("cache_s", 5.0,
                                                                        low_open=False))
            ot.done()
        auth.done()
    for route in routes:
        if route.auth in ("jwt", "any") and jwt is None:
            raise ConfigError(f"{source}: routes.{route.name}.auth: {route.auth!r} needs an "
                              "[auth.jwt] table")
        if route.auth in ("opaque", "any") and opaque is None:
            raise ConfigError(f"{source}: routes.{route.name}.auth: {route.auth!r} needs an "
                              "[auth.opaque] table")
    shared = top.table("rate_limit")
    backend, url = "local", None
    if shared is not None:
        backend = shared.text("backend", "local", choices=LIMIT_BACKENDS)
        url = shared.text("url")
        if backend != "local" and not url:
            raise shared.fail("url", f"backend {backend!r} needs url = \"redis://HOST:PORT\"")
        shared.done()
    gateway = top.table("gateway")
    workers, access_log, data_dir = 1, True, ".hld/gateway"
    trusted: tuple[str, ...] = ()
    timeouts = Timeouts()
    if gateway is not None:
        workers = gateway.integer("workers", 1, high=64)
        access_log = gateway.flag("access_log", True)
        trusted = gateway.strings("trusted_proxies") or ()
        data_dir = gateway.text("data_dir", data_dir)
        timeouts = Timeouts(
            gateway.number("header_timeout_s", limits.HEADER_TIMEOUT_S, high=3600),
            gateway.number("body_idle_timeout_s", limits.BODY_IDLE_TIMEOUT_S, high=3600),
            gateway.number("body_timeout_s", limits.BODY_TIMEOUT_S, high=3600),
            gateway.number("keepalive_timeout_s", limits.KEEPALIVE_TIMEOUT_S, high=3600))
        gateway.done()
    top.done()
    _check_trusted(trusted, source)
    return GatewayConfig(listeners, upstreams, routes, admin, workers, access_log, trusted,
                         jwt, opaque, backend, url, data_dir, source, timeouts)


def _check_trusted(networks: tuple[str, ...], source: str) -> None:
    import ipaddress

    for net in networks:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ConfigError(f"{source}: gateway.trusted_proxies: {net!r} is not an IP "
                              "address or network") from None


def simple(listen: str, upstreams: list[str], *, balance: str = "round_robin",
           workers: int = 1, admin: str | None = None) -> GatewayConfig:
    """The configuration behind ``hld gateway --listen A --upstream U ...``."""
    try:
        host, port = parse_address(listen, "--listen")
        servers = tuple(parse_server(u) for u in upstreams)
        admin_listener = Listener(*parse_address(admin, "--admin")) if admin else None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not servers:
        raise ConfigError("give at least one --upstream http://HOST:PORT")
    if balance not in BALANCERS:
        raise ConfigError(f"--balance {balance!r} is not one of {', '.join(BALANCERS)}")
    pool = Upstream("default", servers, balance=balance)
    return GatewayConfig((Listener(host, port),), {"default": pool},
                         (Route("default", "/", "default"),), admin_listener, workers)
