"""Replication commands: REPLICAOF/SLAVEOF, ROLE, WAIT, and the link's PSYNC/REPLCONF.

They reach the process's ``hld.store.replication.Replication`` through the shell
(``c.server.replication``). WAIT blocks through the shell's ``Block`` on an event key
that every replica acknowledgement signals; the offset it waits for is appended to the
parked argv so a re-run waits for the same offset.
"""

from __future__ import annotations

from typing import Any

from hld.core.kv.client import Block
from hld.core.kv.replies import CommandError, parse_int
from hld.core.resp.serializer import OK, encode, error, integer, simple
from hld.store.commands import command
from hld.store.limits import BLOCK_TIMEOUT_S_MAX
from hld.store.replication import WAIT_EVENT_KEY


def _replication(c: Any) -> Any:
    found = getattr(c.server, "replication", None)
    if found is None:
        raise CommandError(error("ERR replication is not available in this process"))
    return found


# REPLICAOF host port | REPLICAOF NO ONE
@command("replicaof", arity=3, flags="admin noscript stale", group="server",
         summary="Configures a server as replica of another, or promotes it to a master.",
         since="5.0.0")
def replicaof(c: Any, argv: list[bytes]) -> bytes:
    replication = _replication(c)
    if argv[1].lower() == b"no" and argv[2].lower() == b"one":
        if replication.is_replica:
            replication.promote()
            c.server.config.replicaof = None
        return OK
    host = argv[1].decode(errors="replace")
    port = parse_int(argv[2], error("ERR Invalid master port"))
    if not 0 < port < 65536:
        return error("ERR Invalid master port")
    if replication.is_replica and (replication.link.host, replication.link.port) == (host, port):
        return simple("OK Already connected to specified master")
    replication.follow(host, port)
    c.server.config.replicaof = (host, port)
    return OK


# SLAVEOF host port | SLAVEOF NO ONE
@command("slaveof", arity=3, flags="admin noscript stale", group="server",
         summary="Sets a Redis server as a replica of another, or promotes it to being a "
                 "master.")
def slaveof(c: Any, argv: list[bytes]) -> bytes:
    reply: bytes = replicaof(c, argv)
    return reply


# ROLE
@command("role", arity=1, flags="noscript loading stale fast", group="server",
         summary="Returns the replication role.", since="2.8.12")
def role(c: Any, argv: list[bytes]) -> bytes:
    return encode(_replication(c).role(), c.proto)


# WAIT numreplicas timeout
@command("wait", arity=-3, flags="noscript", group="generic",
         summary="Blocks until the asynchronous replication of all preceding write commands "
                 "sent by the connection is completed.", since="3.0.0")
def wait(c: Any, argv: list[bytes]) -> bytes | Block:
    replication = _replication(c)
    if len(argv) != 3 and not (c.blocked and len(argv) == 4):
        return error("ERR wrong number of arguments for 'wait' command")
    if replication.is_replica:
        return error("ERR WAIT cannot be used with replica instances. Please also note that "
                     "since Redis 4.0 if a replica is configured to be writable (which is "
                     "not the default) writes to replicas are just local and are not "
                     "propagated.")
    numreplicas = parse_int(argv[1])
    timeout_ms = parse_int(argv[2])
    if timeout_ms < 0:
        return error("ERR timeout is negative")
    offset = int(argv[3]) if len(argv) == 4 else replication.offset
    acked = replication.acked(offset)
    if acked >= numreplicas or c.multi is not None:
        return integer(acked)
    if len(argv) == 3:
        argv.append(b"%d" % offset)  # a re-run waits for this offset, not a later one
        replication.request_acks()
    return Block((WAIT_EVENT_KEY,), min(timeout_ms / 1000.0, BLOCK_TIMEOUT_S_MAX),
                 on_timeout=lambda: integer(replication.acked(offset)))


# PSYNC replicationid offset
@command("psync", arity=-3, flags="admin noscript no_multi", group="server",
         summary="An internal command used in replication.", since="2.8.0")
def psync(c: Any, argv: list[bytes]) -> bytes:
    replication = _replication(c)
    try:
        offset = int(argv[2])
    except ValueError:
        return error("ERR value is not an integer or out of range")
    reply: bytes = replication.attach_replica(c, argv[1].decode(errors="replace"), offset)
    return reply


# REPLCONF <option> <value> [<option> <value> ...]
@command("replconf", arity=-1, flags="admin noscript loading stale", group="server",
         summary="An internal command for configuring the replication stream.",
         since="3.0.0")
def replconf(c: Any, argv: list[bytes]) -> bytes:
    replication = _replication(c)
    if len(argv) % 2 == 0:
        return error("ERR syntax error")
    for i in range(1, len(argv), 2):
        option = argv[i].lower()
        value = argv[i + 1]
        if option == b"ack":
            replication.replica_ack(c, parse_int(value))
            return b""  # acknowledgements get no reply
        if option == b"getack":
            if "M" in c.flags:
                replication.send_ack()
            return b""
        if option == b"listening-port":
            replication.listening_ports[c.id] = parse_int(value)
        elif option not in (b"capa", b"ip-address", b"rdb-only", b"rdb-filter-only"):
            return error(f"ERR Unrecognized REPLCONF option: {option.decode(errors='replace')}")
    return OK
