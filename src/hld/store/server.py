"""The hld-store shell: asyncio (uvloop) protocol objects around ``hld.core.kv.Engine``.

Hot path, per read from a socket: feed hiredis' C reader, pull every complete request,
execute each through ``Engine.execute`` and write the joined replies once. hiredis cannot
read inline commands, and its API does not say whether it stopped at a request boundary,
so the first byte of each request that starts a read decides: ``*`` keeps hiredis,
anything else (a telnet user typing ``PING``) moves the connection for good to the
pure-Python ``RespParser``, which accepts inline and multibulk requests mixed. (An
inline command that follows a multibulk one in the same read is a protocol error under
hiredis; Redis would accept it. Real clients never do this.) The headers of a
request left incomplete are checked by ``check_request_headers`` so a 2 GB bulk length or
a huge multibulk count is refused at once rather than buffered; and a read whose bytes
could hold a non-bulk element (an integer or nested array where Redis only accepts bulk
strings) has its requests validated one by one. A protocol error replies
``-ERR Protocol error: ...`` and closes that connection only.

Blocking: a handler returning ``Block`` parks the connection (see ``hld.core.kv.client``);
later requests of that client wait in its backlog. After each batch the server serves
keys the keyspace marked ready, re-running parked commands in arrival order; a timer
answers the timeout reply. ``StoreServer.signal(key)`` wakes clients parked on non-key
events (replication acknowledgements for WAIT).

Hooks for the durability side: ``startup_hooks`` (called with the server before
listening: load the snapshot/AOF, start the AOF writer, connect to a primary),
``shutdown_hooks`` (called on SHUTDOWN or exit: fsync, final save as ``shutdown_save``
says), and the engine's
write listeners. ``cron_hooks`` run ``hz`` times per second with the server.

Group commit: while writes are propagated (an AOF or replicas listen), replies do not
leave at once. Each connection holds them, and at the end of the loop iteration
``flush_replies`` runs ``before_reply_hooks`` (the AOF's write, and its fsync under
``appendfsync always``) once for every client served in that iteration, then sends
what was held. An acknowledged write is thus as durable as the policy says before its
reply leaves, at one write (and one fsync) per iteration rather than per client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, cast

import hiredis

from hld.core.kv.client import Block, Client
from hld.core.kv.engine import Engine, propagate_write
from hld.core.resp.parser import NEED_DATA, ProtocolError, RespParser, check_request_headers
from hld.core.resp.serializer import NULL3, NULL_ARRAY, error
from hld.store import commands, limits
from hld.store.config import StoreConfig, on_change

log = logging.getLogger("hld.store.server")

Hook = Callable[["StoreServer"], Awaitable[None] | None]

# An aggregate header with 8 or more digits (10 million elements and up, beyond
# limits.ARGS_MAX) after a newline: never part of a valid request.
_HUGE_AGGREGATE = re.compile(rb"\n[*%~>|][0-9]{8,}\r")
_time_ns = time.time_ns
_UNREAD: Final = object()  # _pull: no request taken from the reader yet


class StoreServer:
    """One hld-store process: the engine, the listening socket, the clients."""

    def __init__(self, config: StoreConfig, *, rng: random.Random | None = None) -> None:
        commands.load_all()
        self.config = config
        # SHUTDOWN SAVE (True) / NOSAVE (False); None: save if save points are set.
        self.shutdown_save: bool | None = None
        self.engine = Engine(
            rng=rng or random.Random(), requirepass=_pass(config.requirepass),
            maxmemory_bytes=config.maxmemory, maxmemory_policy=config.maxmemory_policy,
            maxmemory_samples=config.maxmemory_samples)
        self.engine.server = self
        self.engine.settings = config
        self.connections: dict[int, Connection] = {}
        self.parked: dict[bytes, list[Connection]] = {}
        self._next_id = 0
        self.started_s = time.time()
        self.started_monotonic = time.monotonic()
        self.total_connections = 0
        self.rejected_connections = 0
        self.port = config.port
        self.startup_hooks: list[Hook] = []
        self.shutdown_hooks: list[Hook] = []
        self.cron_hooks: list[Callable[[StoreServer], None]] = []
        # Called before held replies are written (the AOF's write, and fsync under always:
        # acknowledged writes are durable first). While writes are propagated (AOF or
        # replicas), replies wait for the end of the loop iteration, so that one AOF write
        # (and one fsync) covers every client served in it: group commit.
        self.before_reply_hooks: list[Callable[[], None]] = []
        self.holding: list[Connection] = []
        self._flush_handle: asyncio.Handle | None = None
        self._server: asyncio.base_events.Server | None = None
        self._stopped = asyncio.Event()
        self._cron_task: asyncio.Task[None] | None = None
        self.shutting_down = False
        self.metrics: Any = None  # hld.store.metrics.MetricsServer when --metrics-port
        on_change("maxmemory", self._apply_memory)
        on_change("maxmemory-policy", self._apply_memory)
        on_change("requirepass", self._apply_requirepass)

    # -- settings ----------------------------------------------------------------

    def _apply_memory(self, config: StoreConfig, value: Any) -> None:
        del value
        self.engine.maxmemory_samples = config.maxmemory_samples
        self.engine.configure_memory(config.maxmemory, config.maxmemory_policy)

    def _apply_requirepass(self, config: StoreConfig, value: Any) -> None:
        del value
        self.engine.requirepass = _pass(config.requirepass)

    # -- life cycle --------------------------------------------------------------

    async def start(self) -> None:
        for hook in self.startup_hooks:
            result = hook(self)
            if result is not None:
                await result
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Connection(self), self.config.bind, self.config.port,
            reuse_address=True, backlog=1024)
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])
        self._cron_task = loop.create_task(self._cron())
        if self.config.metrics_port:
            from hld.store.metrics import MetricsServer

            self.metrics = MetricsServer(self.engine, self.config.metrics_bind,
                                         self.config.metrics_port)
            await self.metrics.start()

    async def serve_forever(self) -> None:
        await self._stopped.wait()
        await self.close()

    def request_shutdown(self) -> None:
        if not self.shutting_down:
            log.info("shutdown requested", extra={"port": self.port})
        self.shutting_down = True
        self._stopped.set()

    async def close(self) -> None:
        if self._cron_task is not None:
            self._cron_task.cancel()
        if self._server is not None:
            self._server.close()
        if self.metrics is not None:
            await self.metrics.close()
        for conn in list(self.connections.values()):
            conn.close()
        for hook in self.shutdown_hooks:
            result = hook(self)
            if result is not None:
                await result

    async def _cron(self) -> None:
        db = self.engine.db
        while True:
            await asyncio.sleep(1.0 / max(self.config.hz, 1))
            db.set_time(time.time())
            db.active_expire(limits.ACTIVE_EXPIRE_KEYS_PER_CYCLE)
            for hook in self.cron_hooks:
                hook(self)
            if db.ready:
                self.serve_ready()

    # -- clients -----------------------------------------------------------------

    def next_client_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def kill(self, client_id: int) -> bool:
        conn = self.connections.get(client_id)
        if conn is None:
            return False
        conn.close_soon()
        return True

    # -- group commit ------------------------------------------------------------

    def hold(self, conn: Connection) -> None:
        """``conn`` has replies waiting for this iteration's AOF write."""
        self.holding.append(conn)
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self.flush_replies)

    def flush_replies(self) -> None:
        """Make the writes durable as the policy says, then send the replies held."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        for hook in self.before_reply_hooks:
            hook()
        holding, self.holding = self.holding, []
        for conn in holding:
            conn.release()

    # -- blocking ----------------------------------------------------------------

    def signal(self, key: bytes) -> None:
        """Wake clients parked on ``key`` (a keyspace key or an event name)."""
        if key in self.parked:
            self.engine.db.ready.append(key)
            self.serve_ready()

    def serve_ready(self) -> None:
        db = self.engine.db
        rounds = 0
        while db.ready and rounds < 1000:  # bounded: a re-run may push and ready more keys
            rounds += 1
            keys = list(dict.fromkeys(db.ready))
            db.ready.clear()
            for key in keys:
                for conn in list(self.parked.get(key, ())):
                    conn.retry_blocked()

    def park(self, conn: Connection, keys: tuple[bytes, ...]) -> None:
        blocking = self.engine.db.blocking
        for key in keys:
            self.parked.setdefault(key, []).append(conn)
            blocking[key] = blocking.get(key, 0) + 1

    def unpark(self, conn: Connection, keys: tuple[bytes, ...]) -> None:
        blocking = self.engine.db.blocking
        for key in keys:
            waiting = self.parked.get(key)
            if waiting is not None and conn in waiting:
                waiting.remove(conn)
                if not waiting:
                    del self.parked[key]
            count = blocking.get(key, 0) - 1
            if count <= 0:
                blocking.pop(key, None)
            else:
                blocking[key] = count

    @property
    def blocked_clients(self) -> int:
        return sum(1 for c in self.connections.values() if c.block is not None)


def _pass(text: str | None) -> bytes | None:
    return text.encode() if text else None


class Connection(asyncio.Protocol):
    """One client connection."""

    def __init__(self, server: StoreServer) -> None:
        self.server = server
        self.engine = server.engine
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader()
        self.client: Client
        self.partial_bytes = 0
        self.slow: RespParser | None = None
        self.tail = b"\n"  # last bytes of the previous reads, for headers split across reads
        self.boundary = True  # the next byte starts a request
        self.hot = False  # see data_received
        self.held: list[bytes] = []  # replies waiting for the group commit (see hold)
        self.held_bytes = 0
        self.backlog: list[bytes] = []  # bytes read while blocked, not yet parsed
        self.backlog_bytes = 0
        self.queued: list[Any] = []  # requests parsed, not run: their client blocked
        self.resuming = False  # a wake-up will run queued and backlog first
        self.block: Block | None = None
        self.block_argv: list[bytes] = []
        self.block_timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.paused = False

    # -- asyncio callbacks ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        server = self.server
        peer = self.transport.get_extra_info("peername") or ("?", 0)
        local = self.transport.get_extra_info("sockname") or ("?", 0)
        self.client = Client(self.engine, server.next_client_id(),
                             addr=f"{peer[0]}:{peer[1]}", laddr=f"{local[0]}:{local[1]}",
                             server=server, push=self.push, created_s=time.time())
        if len(server.connections) >= min(server.config.maxclients, limits.CLIENTS_MAX):
            server.rejected_connections += 1
            self.transport.write(error("ERR max number of clients reached"))
            self.transport.close()
            self.closed = True
            return
        server.connections[self.client.id] = self
        server.total_connections += 1
        self.transport.set_write_buffer_limits(high=limits.OUTPUT_HIGH_WATER_BYTES,
                                          low=limits.OUTPUT_LOW_WATER_BYTES)

    def connection_lost(self, exc: Exception | None) -> None:
        del exc
        self.closed = True
        self.hot = False
        self._unblock()
        self.server.connections.pop(self.client.id, None)
        self.engine.disconnect(self.client)
        # Drop the parser state and the client<->connection cycle now, so a half-read
        # request (possibly a large one) is freed by reference counting, not by a later
        # garbage collection pass.
        self.reader = hiredis.Reader()
        self.slow = None
        self.backlog = []
        self.queued = []
        self.held = []
        self.client.push = _discard_push

    def pause_writing(self) -> None:
        # A client that does not read its replies stops being read (back-pressure).
        if self.transport is not None and not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and self.paused:
            self.paused = False
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        # The common case: the previous read ended on a request boundary and this one
        # holds exactly one whole request (an unpipelined client).
        if self.hot and data[:1] == b"*" and not data[1:9].isdigit() \
                and _HUGE_AGGREGATE.search(data) is None:
            reader = self.reader
            reader.feed(data)
            try:
                argv = reader.gets()
            except hiredis.ProtocolError as exc:
                self.protocol_error(_hiredis_message(str(exc)))
                return
            if argv is not False and not reader.has_data():
                self._run_one(argv, data)
            else:
                self._pull(data, argv)
            return
        if self.block is not None or self.closed or self.resuming:
            self.backlog_bytes += len(data)
            if self.backlog_bytes > limits.QUERY_BUFFER_BYTES_MAX:
                self.protocol_error("too big query buffer while blocked")
                return
            self.backlog.append(data)
            return
        self.process(data)

    # -- requests ----------------------------------------------------------------

    def process(self, data: bytes) -> None:
        self.hot = False
        if self.slow is not None or (self.boundary and data and data[0] != 42):
            self._process_slow(data)
            return
        # hiredis allocates an aggregate's element table when it reads the header, and
        # freeing a 2-billion-slot table takes tens of seconds: refuse such headers before
        # hiredis sees them (a header split across reads is seen joined to its start).
        if self.boundary:
            huge = data[1:9].isdigit()
        else:
            huge = _HUGE_AGGREGATE.search(self.tail + data[:24]) is not None
        if huge or _HUGE_AGGREGATE.search(data) is not None:
            self.protocol_error("invalid multibulk length")
            return
        self.reader.feed(data)
        self._pull(data, _UNREAD)

    def _pull(self, data: bytes, first: Any) -> None:
        """Requests from the reader (``first``, if not ``_UNREAD``, already taken) -> run."""
        self.hot = False
        reader = self.reader
        requests: list[Any] = []
        # On a request boundary when nothing is left after a complete request. (Only
        # then: a gets() that finds no complete request may take the whole lines of a
        # partial one into its own state, after which the buffer looks empty too.)
        boundary = False
        try:
            argv = reader.gets() if first is _UNREAD else first
            while argv is not False:
                requests.append(argv)
                if not reader.has_data():
                    boundary = True
                    break
                argv = reader.gets()
        except hiredis.ProtocolError as exc:
            if self._run_checked(requests):
                self.protocol_error(_hiredis_message(str(exc)))
            return
        started_here = self.boundary
        self.boundary = boundary
        if boundary:
            self.tail = b"\n"
            self.partial_bytes = 0
        else:
            self.tail = (self.tail + data[-24:])[-24:]
            self.partial_bytes = len(data) if requests else self.partial_bytes + len(data)
        if not requests:
            if self.partial_bytes > limits.QUERY_BUFFER_BYTES_MAX:
                self.protocol_error("too big query buffer")
                return
            if started_here:  # the chunk starts with a request's headers
                problem = check_request_headers(data, limits.ARGS_MAX, limits.BULK_BYTES_MAX)
                if problem is not None:
                    self.protocol_error(problem)
            return
        if self._run_checked(requests):
            self.hot = (self.boundary and self.block is None and not self.closed
                        and self.slow is None)

    def _run_checked(self, requests: list[Any]) -> bool:
        """Run ``requests`` up to the first that is not an array of bulk strings.

        hiredis accepts any reply type where Redis accepts only bulk strings: such a
        request gets Redis' protocol error and closes the connection (False). ``*0`` and
        ``*-1`` (hiredis gives ``[]`` and None) are skipped, as Redis skips them.
        """
        try:
            # One C-speed pass: TypeError unless every request is a list of bytes.
            b"".join(map(b"".join, requests))
        except TypeError:
            pass
        else:  # (empty requests pass: the runners skip them)
            self.run(requests)
            return True
        good: list[Any] = []
        for argv in requests:
            if argv is None or argv == []:
                continue
            problem = _check_argv(argv)
            if problem is not None:
                if good:
                    self.run(good)
                self.protocol_error(problem)
                return False
            good.append(argv)
        if good:
            self.run(good)
        return True

    def _run_one(self, argv: Any, data: bytes) -> None:
        """``run`` for one request on a plain client, with ``_run_plain`` inlined.

        Anything unusual (an unknown or oddly spelt name, a wrong arity, an argument that
        is not a bulk string, a client or server state that needs checks) takes ``_pull``.
        """
        engine = self.engine
        c = self.client
        try:
            cmd = engine.commands[argv[0]]
            b"".join(argv)  # TypeError unless every argument is a bulk string
        except (KeyError, TypeError, IndexError):
            self._pull(data, argv)
            return
        n = len(argv)
        arity = cmd.arity
        if not c.plain or engine.readonly or engine.maxmemory_bytes \
                or (n != arity and (arity >= 0 or n < -arity)):
            self._pull(data, argv)
            return
        db = engine.db
        db.now_ms = _time_ns() // 1_000_000
        engine.total_commands += 1
        c.last_command = cmd  # CLIENT LIST's cmd= (the one store per request it costs)
        dirty = db.dirty
        reply = cmd.handler(c, argv)
        if db.dirty != dirty and db.listeners:
            propagate_write(db, c, argv)
        if c.propagate is not None:
            c.propagate = None
        if type(reply) is bytes:
            if db.listeners or self.held:
                self._send(reply)
            else:
                self.transport.write(reply)  # type: ignore[union-attr]  # set while hot
        else:
            self.hot = False
            self._park(cast(Block, reply), argv)
        if c.close_after_reply:
            self.close_soon()
        if db.ready:
            self.server.serve_ready()

    def _process_slow(self, data: bytes) -> None:
        """Connections that started inline (telnet style) use the pure-Python parser."""
        parser = self.slow
        if parser is None:
            parser = self.slow = RespParser(
                requests=True, bulk_bytes_max=limits.BULK_BYTES_MAX,
                multibulk_len_max=limits.ARGS_MAX, inline_bytes_max=limits.INLINE_BYTES_MAX)
        parser.feed(data)
        requests: list[Any] = []
        try:
            while True:
                argv = parser.next_event()
                if argv is NEED_DATA:
                    break
                requests.append(argv)
        except ProtocolError as exc:
            self.run(requests)
            self.protocol_error(str(exc))
            return
        if parser.buffered_bytes > limits.QUERY_BUFFER_BYTES_MAX:
            self.protocol_error("too big query buffer")
            return
        if requests:
            self.run(requests)

    def run(self, requests: list[Any]) -> None:
        engine = self.engine
        execute = engine.execute
        c = self.client
        engine.db.now_ms = int(time.time() * 1000)
        if c.plain and not engine.readonly and not engine.maxmemory_bytes:
            self._run_plain(requests)
        elif len(requests) == 1:  # unpipelined, without list building
            reply = execute(c, requests[0])
            if type(reply) is bytes:
                self._send(reply)
            else:
                self._park(cast(Block, reply), requests[0])
        else:
            self._run_general(requests)
        if c.close_after_reply:
            self.close_soon()
        if engine.db.ready:
            self.server.serve_ready()

    def _run_plain(self, requests: list[Any]) -> None:
        """A pipelined batch from a plain client: ``Engine.execute``'s fast path inlined.

        Only the checks a plain client needs (name, arity) are made here; anything else
        (unknown names, wrong arity, a command that changes the client's state so that it
        is no longer plain) goes through ``Engine.execute``, which answers exactly.
        """
        engine = self.engine
        commands = engine.commands
        db = engine.db
        c = self.client
        out: list[bytes] = []
        engine.total_commands += len(requests)
        for i, argv in enumerate(requests):
            try:
                cmd = commands.get(argv[0])
            except IndexError:  # *0 (or $0): nothing to run, as in Redis
                engine.total_commands -= 1
                continue
            n = len(argv)
            if cmd is None or not c.plain \
                    or (n != cmd.arity and (cmd.arity >= 0 or n < -cmd.arity)):
                engine.total_commands -= 1  # execute counts it
                reply = engine.execute(c, argv)
            else:
                c.last_command = cmd
                dirty = db.dirty
                reply = cmd.handler(c, argv)
                if db.dirty != dirty and db.listeners:
                    propagate_write(db, c, argv)
                if c.propagate is not None:
                    c.propagate = None
            if db.ready:  # clients this command unblocked are served before the next one
                self.server.serve_ready()
            if type(reply) is bytes:
                out.append(reply)
                if c.close_after_reply:
                    break
            else:
                self._write(out)
                out = []
                self._park(cast(Block, reply), argv)
                rest = requests[i + 1:]
                if rest:
                    self._requeue(rest)
                break
        if out:
            self._write(out)

    def _run_general(self, requests: list[Any]) -> None:
        execute = self.engine.execute
        db = self.engine.db
        c = self.client
        out: list[bytes] = []
        for i, argv in enumerate(requests):
            reply = execute(c, argv)
            if db.ready:  # clients this command unblocked are served before the next one
                self.server.serve_ready()
            if type(reply) is bytes:
                out.append(reply)
                if c.close_after_reply:
                    break
            else:
                self._write(out)
                out = []
                self._park(cast(Block, reply), argv)
                rest = requests[i + 1:]
                if rest:
                    self._requeue(rest)
                break
        if out:
            self._write(out)

    def _requeue(self, requests: list[list[bytes]]) -> None:
        """Requests parsed but not run (their client blocked): they run first on wake-up.

        They stay parsed rather than going back into the byte backlog: the reader may
        hold the start of a later request, which the backlog's bytes continue.
        """
        self.queued = requests + self.queued

    # -- blocking ----------------------------------------------------------------

    def _park(self, block: Block, argv: list[bytes]) -> None:
        self.hot = False
        self.block = block
        self.block_argv = argv
        self.client.blocked = True
        self.server.park(self, block.keys)
        if block.timeout_s > 0:
            loop = asyncio.get_running_loop()
            self.client.block_deadline = time.time() + block.timeout_s
            self.block_timer = loop.call_later(block.timeout_s, self._block_timeout)

    def _unblock(self) -> None:
        if self.block is None:
            return
        self.server.unpark(self, self.block.keys)
        if self.block_timer is not None:
            self.block_timer.cancel()
            self.block_timer = None
        self.block = None
        self.client.blocked = False

    def retry_blocked(self) -> None:
        if self.block is None or self.closed:
            return
        argv = self.block_argv
        self.engine.db.set_time(time.time())
        reply = self.engine.execute(self.client, argv)
        if isinstance(reply, Block):
            return  # still nothing for us: stay parked (our deadline is unchanged)
        self._unblock()
        self._write([reply])
        self._drain_backlog()

    def _block_timeout(self) -> None:
        block = self.block
        if block is None:
            return
        self.block_timer = None
        self._unblock()
        if block.on_timeout is None:
            reply = NULL3 if self.client.proto == 3 else NULL_ARRAY
        elif isinstance(block.on_timeout, bytes):
            reply = block.on_timeout
        else:
            reply = block.on_timeout()
        self._write([reply])
        self._drain_backlog()

    def unblock_with(self, reply: bytes) -> bool:
        """CLIENT UNBLOCK: answer a parked client now."""
        if self.block is None:
            return False
        self._unblock()
        self._write([reply])
        self._drain_backlog()
        return True

    def runnable(self) -> bool:
        """Open and not blocked: the next request may run."""
        return not self.closed and self.block is None

    def _drain_backlog(self) -> None:
        if (self.backlog or self.queued) and not self.closed:
            # Let the loop breathe between a wake-up and the next batch of this client;
            # what arrives meanwhile joins the backlog, behind what waited.
            self.resuming = True
            asyncio.get_running_loop().call_soon(self._resume)

    def _resume(self) -> None:
        self.resuming = False
        if not self.runnable():
            return
        queued, self.queued = self.queued, []
        if queued:
            self.run(queued)
            if not self.runnable():
                return  # blocked again: the rest is queued, the backlog waits
        data = b"".join(self.backlog)
        self.backlog = []
        self.backlog_bytes = 0
        if data:
            self.process(data)

    # -- output ------------------------------------------------------------------

    def _write(self, out: list[bytes]) -> None:
        if out:
            self._send(b"".join(out) if len(out) > 1 else out[0])

    def _send(self, data: bytes) -> None:
        """Every reply leaves through here, so their order holds whatever the path."""
        if self.transport is None or self.closed:
            return
        if self.held or self.engine.db.listeners:
            if not self.held:
                self.server.hold(self)
            self.held.append(data)
            self.held_bytes += len(data)
        else:
            self.transport.write(data)

    def release(self) -> None:
        """The group commit is done: send what was held."""
        held = self.held
        if held:
            self.held = []
            self.held_bytes = 0
            if self.transport is not None and not self.closed:
                self.transport.write(b"".join(held) if len(held) > 1 else held[0])

    def push(self, data: bytes) -> None:
        """Out-of-band bytes (pub/sub messages), bounded by the pub/sub output limit."""
        transport = self.transport
        if transport is None or self.closed:
            return
        if transport.get_write_buffer_size() + self.held_bytes + len(data) \
                > limits.PUBSUB_OUTPUT_BYTES_MAX:
            self.close()
            return
        self._send(data)

    def protocol_error(self, message: str) -> None:
        self._send(error(f"ERR Protocol error: {message}"))
        self.close_soon()

    def close_soon(self) -> None:
        """Close after the replies already written are flushed."""
        self.hot = False
        if self.held:
            self.server.flush_replies()
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    def close(self) -> None:
        self.hot = False
        self.held = []  # an abort drops what was not sent anyway
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()


def _discard_push(data: bytes) -> None:
    del data


def _check_argv(argv: Any) -> str | None:
    if not isinstance(argv, list):
        return f"expected '*', got '{_type_char(argv)}'"
    for arg in argv:
        if type(arg) is not bytes:
            return f"expected '$', got '{_type_char(arg)}'"
    return None


def _type_char(value: Any) -> str:
    if isinstance(value, list):
        return "*"
    if isinstance(value, int):
        return ":"
    return "?"


def _hiredis_message(text: str) -> str:
    """hiredis' wording -> Redis' wording, which clients and tests match on."""
    match = re.search(r'got "(.)"', text)
    if match:
        return f"expected '$', got '{match.group(1)}'"
    low = text.lower()
    if "bulk string length" in low:
        return "invalid bulk length"
    if "multi-bulk length" in low or "multibulk" in low:
        return "invalid multibulk length"
    return text.lower()


def run_server(config: StoreConfig, *, ready: Callable[[StoreServer], None] | None = None,
               configure: Callable[[StoreServer], object] | None = None) -> int:
    """Run until SHUTDOWN or a signal; returns the exit status."""
    import signal

    import uvloop

    from hld.store import logs

    logs.configure(config.loglevel)
    on_change("loglevel", lambda cfg, value: logs.log.setLevel(logs.LEVELS[value]))

    async def main() -> None:
        server = StoreServer(config)
        if configure is not None:
            configure(server)
        await server.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, server.request_shutdown)
        logs.event("store ready", bind=config.bind, port=server.port, pid=os.getpid(),
                   metrics_port=server.metrics.port if server.metrics is not None else 0,
                   role="replica" if config.replicaof else "primary",
                   appendonly=config.appendonly, appendfsync=config.appendfsync)
        if ready is not None:
            ready(server)
        await server.serve_forever()
        logs.event("store stopped", port=server.port,
                   uptime_s=round(time.monotonic() - server.started_monotonic, 3))

    uvloop.run(main())
    return 0
