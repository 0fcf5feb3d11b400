"""Connection and server commands: PING, ECHO, HELLO, AUTH, QUIT, RESET, INFO, CONFIG,
CLIENT, TIME, SHUTDOWN, COMMAND; and the INFO sections the store owns.

These are the commands that read process-level state (the clock, RSS, the connection
list), so they live in the shell's layer and reach it through ``c.server`` (None when the
engine runs in-process; the replies then describe an empty server). The ``persistence``
and ``replication`` INFO sections registered here are placeholders that the durability
side replaces (``hld.core.kv.info.register_section(..., replace=True)``).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from typing import Any

from hld import __version__
from hld.core.kv import info
from hld.core.kv.glob import compile_glob
from hld.core.kv.replies import SYNTAX, CommandError, parse_int
from hld.core.resp.serializer import (
    OK,
    PONG,
    array_header,
    bulk,
    bulks,
    encode,
    error,
    integer,
    map_header,
    simple,
)
from hld.store import config as store_config
from hld.store.commands import command

REDIS_VERSION = "7.0.0"  # the Redis feature level hld-store answers as


def _settings(c: Any) -> store_config.StoreConfig:
    settings = c.engine.settings
    if settings is None:
        settings = c.engine.settings = store_config.StoreConfig()
    return settings  # type: ignore[no-any-return]


# PING [message]
@command("ping", arity=-1, flags="fast", group="connection")
def ping(c: Any, argv: list[bytes]) -> bytes:
    """Ping the server."""
    if len(argv) > 2:
        raise CommandError(error("ERR wrong number of arguments for 'ping' command"))
    if c.proto == 2 and (c.channels or c.patterns):
        return b"*2\r\n$4\r\npong\r\n" + bulk(argv[1] if len(argv) == 2 else b"")
    return PONG if len(argv) == 1 else bulk(argv[1])


# ECHO message
@command("echo", arity=2, flags="fast", group="connection")
def echo(c: Any, argv: list[bytes]) -> bytes:
    """Echo the given string."""
    return bulk(argv[1])


# QUIT
@command("quit", arity=-1, flags="noauth allow_busy fast", group="connection")
def quit_(c: Any, argv: list[bytes]) -> bytes:
    """Close the connection after replying."""
    c.close_after_reply = True
    return OK


# RESET
@command("reset", arity=1, flags="noauth loading stale fast", group="connection")
def reset(c: Any, argv: list[bytes]) -> bytes:
    """Reset the connection's state (transaction, watches, subscriptions, protocol)."""
    c.engine.discard_transaction(c)
    c.engine.pubsub.drop(c)
    c.proto = 2
    c.name = b""
    c.authenticated = c.engine.requirepass is None
    c.refresh()
    return b"+RESET\r\n"


def _check_password(c: Any, user: bytes, password: bytes) -> bytes | None:
    required = c.engine.requirepass
    if required is None:
        if user == b"default" and len(password) >= 0 and c.engine.requirepass is None:
            return None
        return None
    if user != b"default" or password != required:
        return error("WRONGPASS invalid username-password pair or user is disabled.")
    return None


# AUTH [username] password
@command("auth", arity=-2, flags="noscript loading stale fast noauth", group="connection")
def auth(c: Any, argv: list[bytes]) -> bytes:
    """Authenticate to the server."""
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    if c.engine.requirepass is None and len(argv) == 2:
        return error("ERR AUTH <password> called without any password configured for the "
                     "default user. Are you sure your configuration is correct?")
    user, password = (b"default", argv[1]) if len(argv) == 2 else (argv[1], argv[2])
    problem = _check_password(c, user, password)
    if problem is not None:
        return problem
    c.authenticated = True
    c.refresh()
    return OK


# HELLO [protover [AUTH username password] [SETNAME clientname]]
@command("hello", arity=-1, flags="noscript loading stale fast noauth", group="connection",
         since="6.0.0")
def hello(c: Any, argv: list[bytes]) -> bytes:
    """Handshake: choose RESP2 or RESP3, optionally authenticate and name the connection."""
    proto = c.proto
    if len(argv) >= 2:
        try:
            proto = int(argv[1])
        except ValueError:
            return error("ERR Protocol version is not an integer or out of range")
        if proto not in (2, 3):
            return error("NOPROTO unsupported protocol version")
    i = 2
    name: bytes | None = None
    while i < len(argv):
        opt = argv[i].upper()
        if opt == b"AUTH" and i + 2 < len(argv):
            problem = _check_password(c, argv[i + 1], argv[i + 2])
            if problem is not None:
                return problem
            c.authenticated = True
            i += 3
        elif opt == b"SETNAME" and i + 1 < len(argv):
            name = argv[i + 1]
            i += 2
        else:
            return error(f"ERR Syntax error in HELLO option '{argv[i].decode(errors='replace')}'")
    if not c.authenticated:
        return error("NOAUTH HELLO must be called with the client already authenticated, "
                     "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                     "authenticate the client and select the RESP protocol version at the "
                     "same time")
    if name is not None:
        c.name = name
    c.proto = proto
    c.refresh()
    role = b"replica" if c.engine.readonly else b"master"
    return encode({b"server": b"redis", b"version": REDIS_VERSION.encode(), b"proto": proto,
                   b"id": c.id, b"mode": b"standalone", b"role": role, b"modules": []}, proto)


# INFO [section ...]
@command("info", arity=-1, flags="loading stale", group="server")
def info_(c: Any, argv: list[bytes]) -> bytes:
    """Information and statistics about the server."""
    text = info.render(c.engine, [a.decode(errors="replace").lower() for a in argv[1:]])
    if c.proto == 3:
        body = b"txt:" + text
        return b"=%d\r\n%b\r\n" % (len(body), body)
    return bulk(text)


# TIME
@command("time", arity=1, flags="loading stale fast", group="server")
def time_(c: Any, argv: list[bytes]) -> bytes:
    """The server time: Unix seconds and microseconds."""
    now_us = time.time_ns() // 1000
    return bulks([b"%d" % (now_us // 1_000_000), b"%d" % (now_us % 1_000_000)])


SHUTDOWN_OPTIONS = frozenset({b"NOSAVE", b"SAVE", b"NOW", b"FORCE", b"ABORT"})
ERR_SHUTDOWN = error("ERR Errors trying to SHUTDOWN. Check logs.")


# SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT]
@command("shutdown", arity=-1, flags="admin noscript loading stale no_multi", group="server")
def shutdown(c: Any, argv: list[bytes]) -> bytes:
    """Stop the server, as redis-server 7.0: the final snapshot is saved when save points
    are configured (always with SAVE, never with NOSAVE), the AOF is flushed and fsynced.

    A failed final save keeps the server running and answers an error, unless FORCE.
    hld-store never waits for replicas to catch up, so NOW changes nothing and no
    shutdown is ever in progress for ABORT to cancel.
    """
    options = {raw.upper() for raw in argv[1:]}
    if not options <= SHUTDOWN_OPTIONS or {b"SAVE", b"NOSAVE"} <= options \
            or (b"ABORT" in options and len(argv) > 2):
        raise CommandError(SYNTAX)
    if b"ABORT" in options:
        return error("ERR No shutdown in progress.")
    server = c.server
    if server is None:
        return ERR_SHUTDOWN
    save = True if b"SAVE" in options else False if b"NOSAVE" in options else None
    persistence = getattr(server, "persistence", None)
    if persistence is not None and not persistence.prepare_shutdown(
            save=save, force=b"FORCE" in options):
        return ERR_SHUTDOWN
    server.shutdown_save = save
    server.request_shutdown()
    c.close_after_reply = True
    return b""


# CONFIG GET pattern [pattern ...] | SET name value [name value ...] | RESETSTAT | REWRITE
@command("config", arity=-2, flags="admin noscript loading stale", group="server",
         subcommands=("get", "set", "resetstat", "rewrite", "help"))
def config(c: Any, argv: list[bytes]) -> bytes:
    """Read and change settings at run time."""
    sub = argv[1].lower()
    settings = _settings(c)
    if sub == b"get" and len(argv) >= 3:
        found: dict[str, str] = {}
        for pattern in argv[2:]:
            match = compile_glob(pattern.lower())
            for name in store_config.PARAMS:
                if match(name.encode()):
                    found[name] = store_config.get_value(settings, name)
        parts = [map_header(len(found), c.proto)]
        for name, value in found.items():
            parts.append(bulk(name.encode()) + bulk(value.encode()))
        return b"".join(parts)
    if sub == b"set" and len(argv) >= 4 and len(argv) % 2 == 0:
        for i in range(2, len(argv), 2):
            name = argv[i].decode(errors="replace").lower()
            if store_config.ALIASES.get(name, name) not in store_config.PARAMS:
                return error("ERR Unknown option or number of arguments for CONFIG SET - "
                             f"'{name}'")
            try:
                store_config.set_value(settings, name, argv[i + 1].decode(errors="replace"),
                                       runtime=True)
            except store_config.ConfigError as exc:
                return error(f"ERR CONFIG SET failed (possibly related to argument '{name}') "
                             f"- {exc}")
        if c.server is None:
            c.engine.configure_memory(settings.maxmemory, settings.maxmemory_policy)
            c.engine.requirepass = settings.requirepass.encode() if settings.requirepass \
                else None
        return OK
    if sub == b"resetstat" and len(argv) == 2:
        db = c.engine.db
        db.hits = db.misses = db.expired_keys = db.evicted_keys = 0
        c.engine.total_commands = 0
        c.engine.rejected_oom = 0
        for cmd in c.engine.table:
            cmd.calls = 0
        if c.server is not None:
            c.server.total_connections = 0
            c.server.rejected_connections = 0
        return OK
    if sub == b"rewrite" and len(argv) == 2:
        return error("ERR The server is running without a config file")
    if sub in (b"get", b"set", b"resetstat", b"rewrite"):
        return error(f"ERR wrong number of arguments for 'config|{sub.decode()}' command")
    return error(f"ERR unknown subcommand '{argv[1].decode(errors='replace')}'. "
                 "Try CONFIG HELP.")


def _client_line(c: Any, now: float) -> bytes:
    flags = "".join(sorted(c.flags)) or "N"
    if c.multi is not None:
        flags += "x"
    if c.blocked:
        flags += "b"
    if c.channels or c.patterns:
        flags += "P"
    age = int(now - c.created_s) if c.created_s else 0
    return (f"id={c.id} addr={c.addr} laddr={c.laddr} fd=-1 name="
            f"{c.name.decode(errors='replace')} age={age} idle=0 flags={flags} db=0 "
            f"sub={len(c.channels)} psub={len(c.patterns)} ssub=0 "
            f"multi={-1 if c.multi is None else len(c.multi)} qbuf=0 qbuf-free=0 "
            f"argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r "
            f"cmd={_command_name(c.last_command)} user=default "
            f"redir=-1 resp={c.proto}\n").encode()


def _command_name(last: Any) -> str:
    """CLIENT LIST's cmd=: Redis' full name of the last command ("set", "client|list"),
    NULL before any command or after an unknown one."""
    if last is None:
        return "NULL"
    return last if isinstance(last, str) else str(last.name)


def _clients(c: Any) -> list[Any]:
    if c.server is None:
        return [c]
    return [conn.client for conn in c.server.connections.values()]


# CLIENT ID | GETNAME | SETNAME name | LIST | INFO | KILL ... | SETINFO ... | UNBLOCK id
@command("client", arity=-2, flags="admin noscript loading stale", group="connection",
         subcommands=("id", "getname", "setname", "list", "info", "kill", "setinfo",
                      "unblock", "reply", "no-evict", "no-touch", "help"))
def client(c: Any, argv: list[bytes]) -> bytes:
    """Inspect and manage client connections."""
    sub = argv[1].lower()
    if sub == b"id" and len(argv) == 2:
        return integer(c.id)
    if sub == b"getname" and len(argv) == 2:
        return bulk(c.name) if c.name else (b"_\r\n" if c.proto == 3 else b"$-1\r\n")
    if sub == b"setname" and len(argv) == 3:
        if any(ch <= 32 or ch > 126 for ch in argv[2]):
            return error("ERR Client names cannot contain spaces, newlines or special "
                         "characters.")
        c.name = argv[2]
        return OK
    if sub == b"list":
        now = time.time()
        wanted: set[int] | None = None
        if len(argv) >= 4 and argv[2].upper() == b"ID":
            wanted = {parse_int(a) for a in argv[3:]}
        elif len(argv) >= 4 and argv[2].upper() == b"TYPE":
            wanted = None
        elif len(argv) != 2:
            raise CommandError(SYNTAX)
        lines = [_client_line(x, now) for x in sorted(_clients(c), key=lambda x: x.id)
                 if wanted is None or x.id in wanted]
        text = b"".join(lines)
        if c.proto == 3:
            body = b"txt:" + text
            return b"=%d\r\n%b\r\n" % (len(body), body)
        return bulk(text)
    if sub == b"info" and len(argv) == 2:
        return bulk(_client_line(c, time.time()))
    if sub == b"kill":
        return _client_kill(c, argv)
    if sub == b"setinfo" and len(argv) == 4:
        return OK
    if sub in (b"no-evict", b"no-touch") and len(argv) == 3:
        return OK
    if sub == b"reply" and len(argv) == 3:
        return OK
    if sub == b"unblock" and len(argv) in (3, 4):
        target = parse_int(argv[2])
        if c.server is None:
            return integer(0)
        conn = c.server.connections.get(target)
        reply = b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n" \
            if len(argv) == 4 and argv[3].upper() == b"ERROR" else \
            (b"_\r\n" if conn is not None and conn.client.proto == 3 else b"*-1\r\n")
        return integer(1 if conn is not None and conn.unblock_with(reply) else 0)
    return error(f"ERR unknown subcommand or wrong number of arguments for "
                 f"'{argv[1].decode(errors='replace')}'. Try CLIENT HELP.")


def _client_kill(c: Any, argv: list[bytes]) -> bytes:
    clients = _clients(c)
    if len(argv) == 3:  # old form: CLIENT KILL addr:port
        for x in clients:
            if x.addr.encode() == argv[2]:
                c.server.kill(x.id)
                return OK
        return error("ERR No such client")
    if len(argv) % 2 != 0:
        raise CommandError(SYNTAX)
    skipme = True
    filters: list[tuple[bytes, bytes]] = []
    for i in range(2, len(argv), 2):
        opt, value = argv[i].upper(), argv[i + 1]
        if opt == b"SKIPME":
            skipme = value.lower() == b"yes"
        elif opt in (b"ID", b"ADDR", b"LADDR", b"USER", b"TYPE", b"MAXAGE"):
            filters.append((opt, value))
        else:
            raise CommandError(SYNTAX)
    killed = 0
    for x in clients:
        if skipme and x is c:
            continue
        ok = True
        for opt, value in filters:
            if opt == b"ID":
                ok = ok and x.id == parse_int(value)
            elif opt == b"ADDR":
                ok = ok and x.addr.encode() == value
            elif opt == b"LADDR":
                ok = ok and x.laddr.encode() == value
        if ok and c.server is not None and c.server.kill(x.id):
            killed += 1
    return integer(killed)


def _command_info(cmd: Any) -> bytes:
    flags = sorted(f for f in cmd.flags if f != "noauth")
    parts = [array_header(10), bulk(cmd.name.encode()), integer(cmd.arity),
             array_header(len(flags))]
    parts.extend(simple(f) for f in flags)
    parts += [integer(cmd.first_key), integer(cmd.last_key), integer(cmd.step),
              bulks([b"@" + cmd.group.encode()]), array_header(0), array_header(0),
              array_header(0)]
    return b"".join(parts)


def _command_docs(cmd: Any, proto: int) -> bytes:
    doc = {b"summary": cmd.summary.encode(), b"since": cmd.since.encode(),
           b"group": cmd.group.encode()}
    if cmd.subcommands:
        doc[b"subcommands"] = {f"{cmd.name}|{s}".encode(): {b"summary": b"", b"group":
                                                              cmd.group.encode()}
                               for s in cmd.subcommands}
    return bulk(cmd.name.encode()) + encode(doc, proto)


# COMMAND [COUNT | INFO name ... | DOCS [name ...] | LIST | GETKEYS cmd args...]
@command("command", arity=-1, flags="loading stale", group="server",
         subcommands=("count", "info", "docs", "list", "getkeys", "help"))
def command_(c: Any, argv: list[bytes]) -> bytes:
    """Describe the commands hld-store knows, from its command table."""
    table = c.engine.table
    if len(argv) == 1:
        cmds = sorted(table, key=lambda x: x.name)
        return array_header(len(cmds)) + b"".join(_command_info(x) for x in cmds)
    sub = argv[1].lower()
    if sub == b"count" and len(argv) == 2:
        return integer(len(table))
    if sub == b"list":
        return bulks(sorted(x.name.encode() for x in table))
    if sub == b"info":
        names = argv[2:] or [x.name.encode() for x in table]
        parts = [array_header(len(names))]
        for name in names:
            cmd = table.get(name)
            parts.append(_command_info(cmd) if cmd is not None else
                         (b"_\r\n" if c.proto == 3 else b"*-1\r\n"))
        return b"".join(parts)
    if sub == b"docs":
        names = argv[2:] or [x.name.encode() for x in table]
        found = [table.get(n) for n in names]
        cmds = [x for x in found if x is not None]
        return map_header(len(cmds), c.proto) + b"".join(
            _command_docs(x, c.proto) for x in cmds)
    if sub == b"getkeys" and len(argv) >= 3:
        cmd = table.get(argv[2])
        if cmd is None:
            return error("ERR Invalid command specified")
        positions = cmd.key_positions(argv[2:])
        if not positions:
            return error("ERR The command has no key arguments")
        return bulks([argv[2 + i] for i in positions])
    return error(f"ERR unknown subcommand '{argv[1].decode(errors='replace')}'. "
                 "Try COMMAND HELP.")


# -- INFO sections ------------------------------------------------------------------

def _rss_bytes() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def _human(n: int) -> str:
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n}B"


def _section_server(engine: Any) -> info.Fields:
    server = engine.server
    uptime = int(time.time() - server.started_s) if server is not None else 0
    return [
        ("redis_version", REDIS_VERSION), ("hld_version", __version__),
        ("redis_mode", "standalone"), ("os", f"{platform.system()} {platform.release()}"),
        ("arch_bits", 64), ("python_version", platform.python_version()),
        ("process_id", os.getpid()),
        ("tcp_port", server.port if server is not None else 0),
        ("uptime_in_seconds", uptime), ("uptime_in_days", uptime // 86400),
        ("hz", server.config.hz if server is not None else 10),
        ("executable", sys.executable),
    ]


def _section_clients(engine: Any) -> info.Fields:
    server = engine.server
    connected = len(server.connections) if server is not None else 0
    return [
        ("connected_clients", connected),
        ("maxclients", server.config.maxclients if server is not None else 10000),
        ("blocked_clients", server.blocked_clients if server is not None else 0),
        ("pubsub_clients", sum(1 for conn in server.connections.values()
                               if conn.client.subscriptions) if server is not None else 0),
    ]


def _section_memory(engine: Any) -> info.Fields:
    used = engine.used_memory
    rss = _rss_bytes()
    return [
        ("used_memory", used), ("used_memory_human", _human(used)),
        ("used_memory_rss", rss), ("used_memory_rss_human", _human(rss)),
        ("used_memory_dataset", engine.db.used),
        ("maxmemory", engine.maxmemory_bytes),
        ("maxmemory_human", _human(engine.maxmemory_bytes)),
        ("maxmemory_policy", engine.maxmemory_policy),
        ("mem_fragmentation_ratio", rss / used if used else 0.0),
        ("mem_allocator", "pymalloc"),
    ]


def _section_persistence(engine: Any) -> info.Fields:
    return [("loading", 0), ("aof_enabled", 0), ("rdb_bgsave_in_progress", 0),
            ("aof_rewrite_in_progress", 0)]


def _section_stats(engine: Any) -> info.Fields:
    server = engine.server
    db = engine.db
    return [
        ("total_connections_received", server.total_connections if server else 0),
        ("total_commands_processed", engine.total_commands),
        ("rejected_connections", server.rejected_connections if server else 0),
        ("expired_keys", db.expired_keys), ("evicted_keys", db.evicted_keys),
        ("keyspace_hits", db.hits), ("keyspace_misses", db.misses),
        ("pubsub_channels", len(engine.pubsub.channels)),
        ("pubsub_patterns", engine.pubsub.numpat()),
        ("total_oom_rejected_commands", engine.rejected_oom),
    ]


def _section_replication(engine: Any) -> info.Fields:
    return [("role", "slave" if engine.readonly else "master"), ("connected_slaves", 0),
            ("master_repl_offset", 0)]


def _section_keyspace(engine: Any) -> info.Fields:
    db = engine.db
    if not db.data:
        return []
    return [("db0", f"keys={len(db.data)},expires={len(db.expires)},avg_ttl=0")]


def _section_commandstats(engine: Any) -> info.Fields:
    return [(f"cmdstat_{cmd.name}", f"calls={cmd.calls}") for cmd in engine.table if cmd.calls]


for _name, _fn, _default in (
    ("server", _section_server, True), ("clients", _section_clients, True),
    ("memory", _section_memory, True), ("persistence", _section_persistence, True),
    ("stats", _section_stats, True), ("replication", _section_replication, True),
    ("commandstats", _section_commandstats, False), ("keyspace", _section_keyspace, True),
):
    if _name not in info.SECTIONS:
        info.register_section(_name, _fn, default=_default)
