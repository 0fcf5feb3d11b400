"""Replication I/O: the primary's replica links and the replica's link to its primary.

Primary: every write the engine propagates is RESP-encoded once, appended to the
backlog (``hld.core.replication.Backlog``) and written to every attached replica's
socket; the replication offset is the backlog's end. A replica attaches with ``PSYNC``
(``hld.store.commands.replication``): it continues from the backlog when its history and
offset allow, otherwise it gets ``+FULLRESYNC <replid> <offset>`` and a snapshot as one
bulk payload, and the stream follows. Replicas send ``REPLCONF ACK <offset>`` every
second and when asked (``REPLCONF GETACK``); WAIT parks on an event key signalled by
each acknowledgement. A PING each second keeps idle links observably alive.

Replica: one asyncio task follows the link's transition table (``ReplicaLink``): dial
with backoff, ``AUTH [masteruser] masterauth`` when the primary needs a password (a
refusal is logged as an error naming the setting to fix, and the link stays down),
``REPLCONF listening-port``, ``PSYNC``, load a full snapshot or continue,
then apply the stream through the engine as the primary's client (allowed to write on a
read-only replica), counting offsets and keeping the exact bytes in its own backlog, so
that after a promotion (REPLICAOF NO ONE: a new replication ID, the old one kept as
``replid2``) the other replicas can continue from it.

This is hld's own dialect of Redis's protocol (same command names, offsets counted as
the last byte held); a real Redis cannot replicate from it or to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from dataclasses import dataclass
from typing import Any, Final

import hiredis

from hld.core.kv import info
from hld.core.kv.client import Client
from hld.core.replication.backlog import Backlog
from hld.core.replication.limits import (
    ACK_INTERVAL_S,
    LINK_TIMEOUT_S,
    REPLICA_ACK_TIMEOUT_S,
)
from hld.core.replication.link import LinkEvent, LinkState, ReplicaLink
from hld.core.replication.primary import ReplicaRegistry, decide_psync
from hld.core.replication.replid import new_replid
from hld.store.config import StoreConfig, on_change
from hld.store.persistence import snapshot
from hld.store.persistence.aof import encode
from hld.store.persistence.manager import fork_snapshot

log = logging.getLogger("hld.store.replication")

WAIT_EVENT_KEY: Final = b"\x00replication-ack"
# A replica whose unsent output exceeds this is dropped (it reconnects and resyncs);
# Redis' client-output-buffer-limit for replicas is 256 MB hard.
REPLICA_OUTPUT_BYTES_MAX: Final = 256 * 1024 * 1024
# Largest snapshot payload a replica accepts from a primary.
SYNC_PAYLOAD_BYTES_MAX: Final = 4 * 1024 * 1024 * 1024
# How long a replica waits for a handshake reply or the connection itself.
HANDSHAKE_TIMEOUT_S: Final = 5.0
# How long a replica waits for the snapshot after +FULLRESYNC (the primary's child is
# writing it; Redis' repl-timeout is 60 s).
SNAPSHOT_WAIT_TIMEOUT_S: Final = 60.0
READ_CHUNK_BYTES: Final = 256 * 1024
PING_INTERVAL_S: Final = 1.0
# A replica refused for its credentials logs the same error at most this often.
AUTH_ERROR_REPEAT_S: Final = 60.0


class PrimaryAuthError(ValueError):
    """The primary refused our handshake for want of (the right) credentials."""


def _reply_text(line: bytes) -> str:
    return line.strip()[:120].decode(errors="replace")


@dataclass(slots=True)
class _SyncJob:
    """A full resync in progress: a child writes the snapshot as of ``offset``."""

    pid: int
    temp_path: str
    offset: int


class Replication:
    """Both roles of one server process. See the module docstring."""

    def __init__(self, server: Any, *, rng: random.Random | None = None) -> None:
        self.server = server
        self.engine = server.engine
        self.rng = rng or random.Random()
        self.replid = new_replid(self.rng)
        self.replid2 = "0" * 40
        self.second_offset = -1
        self.backlog = Backlog()
        self.registry = ReplicaRegistry()
        self.replica_conns: dict[int, Any] = {}
        self.backlog_active = False
        self._getack_scheduled = False
        # Full resyncs being prepared by forked children, and what the stream carried for
        # those replicas since the fork (sent right after the snapshot), by client id.
        self.sync_jobs: dict[int, _SyncJob] = {}
        self.sync_buffers: dict[int, bytearray] = {}
        self.listening_ports: dict[int, int] = {}  # REPLCONF listening-port, until PSYNC
        self.link = ReplicaLink()
        self.link_task: asyncio.Task[None] | None = None
        self.link_writer: asyncio.StreamWriter | None = None
        self.applying_master = False
        self.master_client: Client | None = None
        self.synced = False  # the replica holds a consistent copy (offset meaningful)
        self._last_ping_s = 0.0
        self._last_ack_s = 0.0
        self._auth_error = ""  # the last credentials error logged, and when
        self._auth_error_s = 0.0
        self.engine.add_write_listener(self._propagate)

    # -- common ---------------------------------------------------------------------

    @property
    def offset(self) -> int:
        return self.backlog.end_offset

    @property
    def is_replica(self) -> bool:
        return self.link.is_replica

    def snapshot_aux(self) -> dict[bytes, bytes]:
        return {b"repl-id": self.replid.encode(), b"repl-offset": b"%d" % self.offset}

    # -- primary side -----------------------------------------------------------------

    def _propagate(self, argv: list[bytes]) -> None:
        if self.applying_master or not self.backlog_active:
            # A replica keeps the primary's exact bytes instead; a primary that never had
            # a replica keeps no backlog at all (as Redis), so writes cost nothing here.
            return
        data = encode(argv)
        self.backlog.append(data)
        if self.replica_conns:
            self._send(data)

    def _send(self, data: bytes) -> None:
        for client_id, conn in list(self.replica_conns.items()):
            transport = conn.transport
            if conn.closed or transport is None:
                self._drop_replica(client_id)
                continue
            waiting = self.sync_buffers.get(client_id)
            size = transport.get_write_buffer_size() if waiting is None else len(waiting)
            if size > REPLICA_OUTPUT_BYTES_MAX:
                log.warning("dropping replica %s: output buffer over the limit",
                            conn.client.addr)
                conn.close()
                self._drop_replica(client_id)
                continue
            if waiting is None:
                transport.write(data)
            else:
                waiting += data

    def send_command(self, argv: list[bytes]) -> None:
        """A command of our own into the stream (PING, REPLCONF GETACK)."""
        if self.is_replica:
            return
        data = encode(argv)
        self.backlog.append(data)
        self._send(data)

    def _drop_replica(self, client_id: int) -> None:
        self.replica_conns.pop(client_id, None)
        self.sync_buffers.pop(client_id, None)
        self.registry.detach(client_id)
        self.server.signal(WAIT_EVENT_KEY)

    def attach_replica(self, c: Client, replid: str, offset: int) -> bytes:
        """PSYNC from a replica: answer the header, payload or backlog; adopt the link."""
        conn = self.server.connections.get(c.id)
        if conn is None or conn.transport is None:
            return b""
        now = time.time()
        decision = decide_psync(replid, offset, my_replid=self.replid,
                                my_replid2=self.replid2, second_offset=self.second_offset,
                                backlog=self.backlog)
        listening_port = self.listening_ports.pop(c.id, 0)
        self.backlog_active = True
        self.registry.attach(c.id, c.addr, listening_port, now=now)
        self.replica_conns[c.id] = conn
        if decision.mode == "continue":
            header = b"+CONTINUE %b\r\n" % self.replid.encode()
            conn.transport.write(header + (self.backlog.read_after(offset) or b""))
            self.registry.online(c.id, offset, now=now)
        elif self._start_sync_job(c.id):
            # The header at once (the replica knows a snapshot is coming and from which
            # offset); the payload follows when the child has written it.
            conn.transport.write(b"+FULLRESYNC %b %d\r\n" % (self.replid.encode(),
                                                             self.offset))
        else:
            # Could not fork: build the snapshot here (the server pauses meanwhile).
            payload = snapshot.dumps(self.engine.db.items(), self.snapshot_aux())
            conn.transport.write(b"+FULLRESYNC %b %d\r\n$%d\r\n" % (
                self.replid.encode(), self.offset, len(payload)) + payload)
            self.registry.online(c.id, 0, now=now)
        c.flags.add("S")
        log.warning("replica %s attached (%s resync at offset %d)", c.addr, decision.mode,
                    self.offset)
        return b""

    def _start_sync_job(self, client_id: int) -> bool:
        """Fork a child writing the snapshot for one replica; buffer the stream meanwhile."""
        directory = str(self.server.config.dir)
        temp = os.path.join(directory, f"temp-sync-{os.getpid()}-{client_id}.hld")
        try:
            os.makedirs(directory, exist_ok=True)
            pid = fork_snapshot(temp, self.engine.db.items(), self.snapshot_aux())
        except OSError as exc:
            log.warning("cannot fork for a full resync (%s): snapshotting in-process", exc)
            return False
        self.sync_jobs[client_id] = _SyncJob(pid, temp, self.offset)
        self.sync_buffers[client_id] = bytearray()
        return True

    def _poll_sync_jobs(self) -> None:
        for client_id, job in list(self.sync_jobs.items()):
            try:
                pid, status = os.waitpid(job.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = job.pid, 1 << 8
            if pid == 0:
                continue
            del self.sync_jobs[client_id]
            conn = self.replica_conns.get(client_id)
            ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
            try:
                if ok and conn is not None and not conn.closed and conn.transport is not None:
                    with open(job.temp_path, "rb") as source:
                        payload = source.read()
                    tail = bytes(self.sync_buffers.pop(client_id, b""))
                    conn.transport.write(b"$%d\r\n" % len(payload) + payload + tail)
                    self.registry.online(client_id, 0, now=time.time())
                elif conn is not None:
                    log.warning("full resync of replica %s failed", conn.client.addr)
                    conn.close()
                    self._drop_replica(client_id)
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(job.temp_path)

    def replica_ack(self, c: Client, offset: int) -> None:
        self.registry.ack(c.id, offset, now=time.time())
        self.server.signal(WAIT_EVENT_KEY)

    def acked(self, offset: int) -> int:
        return self.registry.acked(offset)

    def request_acks(self) -> None:
        """Ask replicas for their offsets, once per loop iteration however many WAITs ask
        (as Redis does in beforeSleep): a burst of WAITs costs one GETACK."""
        if self.replica_conns and not self._getack_scheduled:
            self._getack_scheduled = True
            asyncio.get_running_loop().call_soon(self._send_getack)

    def _send_getack(self) -> None:
        self._getack_scheduled = False
        if self.replica_conns:
            self.send_command([b"REPLCONF", b"GETACK", b"*"])

    def cron(self) -> None:
        now = time.time()
        if self.sync_jobs:
            self._poll_sync_jobs()
        replicas = self.registry.replicas
        for client_id, conn in list(self.replica_conns.items()):
            info_ = replicas.get(client_id)
            silent_s = now - info_.last_ack_s if info_ is not None and \
                info_.state == "online" else 0.0
            silent = silent_s > REPLICA_ACK_TIMEOUT_S
            if silent:
                # Acknowledgements come every second: this link is dead without a TCP
                # error (Redis' repl-timeout). The replica reconnects and resyncs.
                log.warning("dropping replica %s: no acknowledgement for %.0fs",
                            conn.client.addr, silent_s)
                conn.close()
            if conn.closed or silent:
                self._drop_replica(client_id)
        if not self.is_replica and self.replica_conns and now - self._last_ping_s >= \
                PING_INTERVAL_S:
            self._last_ping_s = now
            self.send_command([b"PING"])
        if self.is_replica and self.link.state is LinkState.CONNECTED and \
                now - self._last_ack_s >= ACK_INTERVAL_S:
            self.send_ack()

    # -- role changes -----------------------------------------------------------------

    def follow(self, host: str, port: int) -> None:
        """REPLICAOF host port: become (or re-point) a read-only replica."""
        self._stop_link()
        for client_id, conn in list(self.replica_conns.items()):
            conn.close()  # our replicas must resync with the new history
            self._drop_replica(client_id)
        self.link.follow(host, port, now=time.monotonic())
        self.engine.readonly = True
        self.engine.db.expire_enabled = False
        self.synced = False
        self.backlog_active = True  # the primary's stream is kept for our own replicas
        self.link_task = asyncio.get_running_loop().create_task(self._run_link())

    def promote(self) -> None:
        """REPLICAOF NO ONE: accept writes under a new history, remembering the old."""
        if not self.is_replica:
            return
        self._stop_link()
        self.link.apply(LinkEvent.PROMOTE, now=time.monotonic())
        self.replid2 = self.replid
        self.second_offset = self.offset
        self.replid = new_replid(self.rng)
        self.engine.readonly = False
        self.engine.db.expire_enabled = True
        log.warning("promoted to primary: replid %s, previous %s up to offset %d",
                    self.replid, self.replid2, self.second_offset)

    def _stop_link(self) -> None:
        if self.link_task is not None:
            self.link_task.cancel()
            self.link_task = None
        if self.link_writer is not None:
            self.link_writer.close()
            self.link_writer = None

    # -- replica side -----------------------------------------------------------------

    def send_ack(self) -> None:
        writer = self.link_writer
        if writer is None or writer.is_closing():
            return
        self._last_ack_s = time.time()
        writer.write(encode([b"REPLCONF", b"ACK", b"%d" % self.offset]))

    async def _run_link(self) -> None:
        link = self.link
        while link.is_replica:
            delay_s = link.next_dial_s - time.monotonic()
            if delay_s > 0:
                await asyncio.sleep(delay_s)
            link.apply(LinkEvent.DIAL, now=time.monotonic())
            try:
                await self._sync_once()
            except asyncio.CancelledError:
                raise
            except PrimaryAuthError as exc:
                # Not a network hiccup: retrying cannot help until the setting changes
                # (it is read again at every attempt), so say it as an error, again only
                # if it changes or after a while (attempts come every couple of seconds).
                now_s = time.monotonic()
                if str(exc) != self._auth_error or \
                        now_s - self._auth_error_s >= AUTH_ERROR_REPEAT_S:
                    self._auth_error, self._auth_error_s = str(exc), now_s
                    log.error("cannot replicate: %s", exc)  # noqa: TRY400 - no traceback
            except (OSError, EOFError, TimeoutError, ValueError, hiredis.ProtocolError,
                    snapshot.CorruptSnapshot, asyncio.IncompleteReadError) as exc:
                log.warning("link to primary %s:%d lost: %s", link.host, link.port, exc)
            finally:
                if self.link_writer is not None:
                    self.link_writer.close()
                    self.link_writer = None
            if link.is_replica and link.state is not LinkState.CONNECT:
                link.apply(LinkEvent.LOST, now=time.monotonic())

    async def _sync_once(self) -> None:
        link = self.link
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(link.host, link.port), HANDSHAKE_TIMEOUT_S)
        self.link_writer = writer
        await self._authenticate(reader, writer)
        await self._request(reader, writer, [b"REPLCONF", b"listening-port",
                                             b"%d" % self.server.port])
        replid, offset = (self.replid, self.offset) if self.synced else ("?", -1)
        writer.write(encode([b"PSYNC", replid.encode(), b"%d" % offset]))
        line = await asyncio.wait_for(reader.readline(), HANDSHAKE_TIMEOUT_S)
        words = line.strip().split()
        if words[:1] == [b"+FULLRESYNC"] and len(words) == 3:
            link.apply(LinkEvent.FULL_SYNC, now=time.monotonic())
            await self._full_sync(reader, words[1].decode(), int(words[2]))
        elif words[:1] == [b"+CONTINUE"]:
            link.apply(LinkEvent.CONTINUE, now=time.monotonic())
            if len(words) > 1 and words[1].decode() != self.replid:
                self.replid2, self.second_offset = self.replid, self.offset
                self.replid = words[1].decode()
        else:
            raise ValueError(f"unexpected PSYNC reply {line[:80]!r}")
        log.warning("replicating from %s:%d at offset %d", link.host, link.port, self.offset)
        self._auth_error = ""  # a later refusal is news again
        self.send_ack()
        await self._stream(reader)

    async def _authenticate(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        """AUTH [masteruser] masterauth, when a password is configured."""
        config = self.server.config
        if not config.masterauth:
            return
        argv = [b"AUTH", config.masterauth.encode()]
        if config.masteruser:
            argv.insert(1, config.masteruser.encode())
        writer.write(encode(argv))
        line = await asyncio.wait_for(reader.readline(), HANDSHAKE_TIMEOUT_S)
        if not line.startswith(b"+"):
            raise PrimaryAuthError(
                f"the primary {self.link.host}:{self.link.port} refused our AUTH "
                f"({_reply_text(line)}): check masterauth"
                f"{' and masteruser' if config.masteruser else ''} "
                "(CONFIG SET masterauth PASSWORD)")

    async def _request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       argv: list[bytes]) -> None:
        writer.write(encode(argv))
        line = await asyncio.wait_for(reader.readline(), HANDSHAKE_TIMEOUT_S)
        if line.startswith(b"-NOAUTH"):
            raise PrimaryAuthError(
                f"the primary {self.link.host}:{self.link.port} requires a password "
                f"({_reply_text(line)}): set masterauth to its requirepass "
                "(--masterauth PASSWORD or CONFIG SET masterauth PASSWORD)")
        if not line.startswith(b"+"):
            raise ValueError(f"{argv[0].decode()} refused: {line.strip()[:120]!r}")

    async def _full_sync(self, reader: asyncio.StreamReader, replid: str, offset: int) -> None:
        # The primary forks a child to write the snapshot: that may take a while.
        header = await asyncio.wait_for(reader.readline(), SNAPSHOT_WAIT_TIMEOUT_S)
        if not header.startswith(b"$"):
            raise ValueError(f"expected a snapshot payload, got {header[:40]!r}")
        size = int(header[1:].strip())
        if not 0 <= size <= SYNC_PAYLOAD_BYTES_MAX:
            raise ValueError(f"snapshot payload of {size} bytes refused")
        payload = await asyncio.wait_for(reader.readexactly(size), SNAPSHOT_WAIT_TIMEOUT_S)
        _, records, _ = snapshot.loads(payload)
        db = self.engine.db
        db.set_time(time.time())
        db.flush()
        for key, value, expire_at_ms in records:
            db.restore(key, value, expire_at_ms)
        self.replid = replid
        self.backlog.reset(offset)
        self.synced = True
        self.link.apply(LinkEvent.LOADED, now=time.monotonic())
        persistence = getattr(self.server, "persistence", None)
        if persistence is not None and persistence.aof is not None:
            persistence.bgrewriteaof()  # the AOF must describe the new dataset

    async def _stream(self, reader: asyncio.StreamReader) -> None:
        engine = self.engine
        client = self.master_client
        if client is None:
            client = Client(engine, self.server.next_client_id(), addr="primary")
            client.authenticated = True
            client.flags.add("M")
            client.refresh()
            self.master_client = client
        parser = hiredis.Reader()
        db = engine.db
        while True:
            data = await asyncio.wait_for(reader.read(READ_CHUNK_BYTES), LINK_TIMEOUT_S)
            if not data:
                raise EOFError("the primary closed the connection")
            self.link.last_io_s = time.monotonic()
            parser.feed(data)
            db.set_time(time.time())
            while True:
                argv = parser.gets()
                if argv is False:
                    break
                if not isinstance(argv, list):
                    raise ValueError("replication stream carried a non-command")  # noqa: TRY004 - the peer's bytes, not our type
                encoded = encode(argv)
                self.applying_master = True
                try:
                    engine.execute(client, argv)
                finally:
                    self.applying_master = False
                self.backlog.append(encoded)
                if self.replica_conns:
                    self._send(encoded)  # chained replicas get our primary's exact bytes
                if argv[0].lower() == b"replconf" and len(argv) > 1 and \
                        argv[1].lower() == b"getack":
                    self.send_ack()
            if db.ready:
                self.server.serve_ready()
            persistence = getattr(self.server, "persistence", None)
            if persistence is not None:
                persistence.flush()  # nobody gets a reply for these writes: flush here

    # -- ROLE and INFO ----------------------------------------------------------------

    def role(self) -> list[Any]:
        if self.is_replica:
            state = {LinkState.CONNECT: "connect", LinkState.CONNECTING: "connecting",
                     LinkState.SYNC: "sync", LinkState.CONNECTED: "connected"}
            return ["slave", self.link.host, self.link.port,
                    state.get(self.link.state, "connect"),
                    self.offset if self.synced else -1]
        replicas = [[info_.addr.rsplit(":", 1)[0], str(info_.listening_port),
                     str(info_.ack_offset)] for info_ in self.registry.replicas.values()]
        return ["master", self.offset, replicas]

    def info(self) -> list[tuple[str, Any]]:
        now = time.time()
        fields: list[tuple[str, Any]] = []
        if self.is_replica:
            link = self.link
            up = link.state is LinkState.CONNECTED
            fields += [
                ("role", "slave"), ("master_host", link.host), ("master_port", link.port),
                ("master_link_status", "up" if up else "down"),
                ("master_last_io_seconds_ago",
                 (int(time.monotonic() - link.last_io_s) if up else -1)),
                ("master_sync_in_progress", int(link.state is LinkState.SYNC)),
                ("slave_read_repl_offset", self.offset), ("slave_repl_offset", self.offset),
                ("slave_priority", 100), ("slave_read_only", 1), ("replica_announced", 1),
            ]
            if not up:
                fields.append(("master_link_down_since_seconds",
                               int(time.monotonic() - link.down_since_s)))
        else:
            fields.append(("role", "master"))
        fields.append(("connected_slaves", len(self.registry.replicas)))
        for index, replica in enumerate(self.registry.replicas.values()):
            lag_s = self.registry.lag_s(replica.replica_id, now=now)
            text = (f"ip={replica.addr.rsplit(':', 1)[0]},port={replica.listening_port},"
                    f"state={replica.state},offset={replica.ack_offset},lag={lag_s}")
            fields.append((f"slave{index}", text))
        fields += [
            ("master_failover_state", "no-failover"),
            ("master_replid", self.replid), ("master_replid2", self.replid2),
            ("master_repl_offset", self.offset),
            ("second_repl_offset", self.second_offset),
            ("repl_backlog_active", int(self.backlog_active)),
            ("repl_backlog_size", self.backlog.capacity_bytes),
            ("repl_backlog_first_byte_offset", self.backlog.start_offset_kept() + 1),
            ("repl_backlog_histlen", self.offset - self.backlog.start_offset_kept()),
        ]
        return fields


def install(server: Any) -> Replication:
    """Wire replication into a ``StoreServer`` (called by ``persistence.install``)."""
    replication = Replication(server)
    server.replication = replication

    def start(_server: Any) -> None:
        target = server.config.replicaof
        if target is not None:
            replication.follow(target[0], target[1])

    server.startup_hooks.append(start)
    server.cron_hooks.append(lambda _s: replication.cron())
    server.shutdown_hooks.append(lambda _s: replication._stop_link())

    def replicaof_changed(config: StoreConfig, value: Any) -> None:
        del value
        with contextlib.suppress(RuntimeError):  # no running loop: applied at start
            if config.replicaof is None:
                replication.promote()
            else:
                replication.follow(config.replicaof[0], config.replicaof[1])

    on_change("replicaof", replicaof_changed)
    info.register_section("replication", lambda _e: replication.info(), replace=True)
    return replication
