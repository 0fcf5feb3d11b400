"""Stream commands: XADD ... XINFO, glue between ``hld.core.stream`` and the keyspace.

Each handler parses with ``hld.core.stream.args``, finds the stream in the keyspace
(WRONGTYPE for other types), calls the pure type, and encodes the reply. Changes are
reported to the keyspace (``grew``: memory, dirty counter, WATCH; ``pushed``: wakes
blocked readers) so the engine propagates them.

Propagation is rewritten so that replaying the AOF or the replication stream is
deterministic, as Redis does: XADD with ``*`` becomes XADD with the ID chosen, trimming
becomes an exact ``MINID``/``MAXLEN 0``, ``$`` becomes the ID it meant, and what group
reads and claims did to the pending entries list becomes ``XCLAIM ... FORCE JUSTID`` with
the delivery time and count, plus ``XGROUP SETID`` for the cursor.

Blocking XREAD/XREADGROUP return ``Block`` on the stream keys; the shell re-runs the same
argv when XADD signals a key, or when the key is deleted or overwritten. ``$`` is
replaced in that argv by the ID it stood for at the first call, so a re-run waits for
entries after it, not after the newest. A re-run of XREADGROUP whose stream is gone
answers Redis 7.0's ``UNBLOCKED`` error (``NOGROUP`` when only its group is gone); XREAD
keeps waiting, as in Redis.

Request tracing (see ``hld.store.logs``): while the ``verbose`` level is on, XADD's entry
in the command table runs ``_traced_xadd``, which logs the entries whose fields carry a
``request_id``; otherwise the table holds XADD's own handler and nothing is checked.
"""

from __future__ import annotations

from typing import Any

from hld.core.kv import memory
from hld.core.kv.client import Block
from hld.core.kv.keyspace import TYPE_NAMES
from hld.core.kv.replies import WRONGTYPE, CommandError
from hld.core.kv.table import TABLE
from hld.core.resp.serializer import (
    EMPTY_ARRAY,
    OK,
    array_header,
    bulk,
    error,
    integer,
    map_header,
    null,
    null_array,
)
from hld.core.stream import args as stream_args
from hld.core.stream.errors import (
    ERR_XGROUP_NO_KEY,
    StreamError,
    nogroup,
    nogroup_for_key,
    nogroup_readgroup,
)
from hld.core.stream.ids import ID_MAX, format_id, parse_id, parse_strict_id
from hld.core.stream.limits import TRIM_APPROX_LIMIT_DEFAULT, TRIM_BLOCK_ENTRIES
from hld.core.stream.stream import ConsumerGroup, Entry, MaybeEntry, PendingEntry, Stream
from hld.store import logs
from hld.store.commands import Handler, command
from hld.store.limits import BLOCK_TIMEOUT_S_MAX

# What a client parked in XREADGROUP is told when its stream or group disappears.
ERR_UNBLOCKED_NO_KEY = "UNBLOCKED the stream key no longer exists"
ERR_UNBLOCKED_NO_GROUP = "NOGROUP the consumer group this client was blocked on no longer exists"

TYPE_NAMES[Stream] = b"stream"
memory.SIZERS[Stream] = lambda s: memory.CONTAINER_BYTES_OVERHEAD + s.nbytes


def _fail(exc: StreamError) -> CommandError:
    return CommandError(error(exc.message))


def _lookup(c: Any, key: bytes, *, write: bool = False) -> Stream | None:
    db = c.db
    value = db.peek(key) if write else db.get(key)
    if value is None:
        return None
    if type(value) is not Stream:
        raise CommandError(WRONGTYPE)
    return value


def _changed(c: Any, key: bytes, stream: Stream, before_bytes: int) -> None:
    c.db.grew(key, stream.nbytes - before_bytes)


def _group(c: Any, key: bytes, name: bytes, *, write: bool = True) -> tuple[Stream, ConsumerGroup]:
    stream = _lookup(c, key, write=write)
    group = None if stream is None else stream.groups.get(name)
    if stream is None or group is None:
        raise _fail(nogroup(key, name))
    return stream, group


# -- reply encoding -------------------------------------------------------------------

def _entry(entry_id: int, fields: tuple[bytes, ...] | None, proto: int) -> bytes:
    head = b"*2\r\n$%d\r\n%b\r\n" % (len(format_id(entry_id)), format_id(entry_id))
    if fields is None:
        return head + null_array(proto)
    parts = [head, b"*%d\r\n" % len(fields)]
    parts.extend(b"$%d\r\n%b\r\n" % (len(f), f) for f in fields)
    return b"".join(parts)


def _entries(entries: list[Entry] | list[MaybeEntry], proto: int) -> bytes:
    parts = [array_header(len(entries))]
    parts.extend(_entry(i, f, proto) for i, f in entries)
    return b"".join(parts)


def _id_bulk(entry_id: int) -> bytes:
    return bulk(format_id(entry_id))


def _ids(entry_ids: list[int]) -> bytes:
    return array_header(len(entry_ids)) + b"".join(_id_bulk(i) for i in entry_ids)


def _trim(stream: Stream, trim: stream_args.Trim) -> int:
    if trim.strategy == "maxlen":
        return stream.trim_maxlen(trim.threshold, approx=trim.approx, limit=trim.limit)
    return stream.trim_minid(trim.threshold, approx=trim.approx, limit=trim.limit)


def _exact_trim_argv(key: bytes, stream: Stream) -> list[bytes]:
    if len(stream) == 0:
        return [b"XTRIM", key, b"MAXLEN", b"=", b"0"]
    return [b"XTRIM", key, b"MINID", b"=", format_id(stream.first_id)]


# -- XADD, XTRIM, XDEL, XLEN, XRANGE ---------------------------------------------------

# XADD key [NOMKSTREAM] [<MAXLEN | MINID> [= | ~] threshold [LIMIT count]] <* | id>
#      field value [field value ...]
@command("xadd", arity=-5, flags="write denyoom fast", keys=(1, 1, 1), group="stream",
         summary="Appends a new message to a stream.", since="5.0.0")
def xadd(c: Any, argv: list[bytes]) -> bytes:
    # The queue's hot path: `XADD key * f v ...` and `XADD key MAXLEN ~ N * f v ...` on an
    # existing stream, in a handful of calls (no option parser, no records).
    argc = len(argv)
    if argv[2] == b"*" and argc % 2 == 1:
        maxlen, first_field = -1, 3
    elif (argc % 2 == 0 and argc >= 8 and argv[3] == b"~" and argv[5] == b"*"
          and argv[2] in (b"MAXLEN", b"maxlen") and argv[4].isdigit() and len(argv[4]) < 19
          and (argv[4][0] != 48 or argv[4] == b"0")):  # no leading zeros, as string2ll
        maxlen, first_field = int(argv[4]), 6
    else:
        maxlen = first_field = 0
    if first_field:
        key = argv[1]
        db = c.db
        found = db.peek(key)
        if type(found) is Stream:
            fields = tuple(argv[first_field:])
            before = found.nbytes
            entry_id = found.add(fields, now_ms=db.now_ms)
            trimmed = found.trim_maxlen(maxlen, approx=True,
                                        limit=TRIM_APPROX_LIMIT_DEFAULT) if maxlen >= 0 else 0
            db.grew(key, found.nbytes - before)
            text_id = format_id(entry_id)
            if trimmed:
                c.propagate = [[b"XADD", key, text_id, *fields],
                               _exact_trim_argv(key, found)]
            else:
                c.propagate = [[b"XADD", key, text_id, *fields]]
            db.pushed(key)
            return b"$%d\r\n%b\r\n" % (len(text_id), text_id)
    try:
        parsed = stream_args.parse_xadd(argv)
        key = parsed.key
        stream = _lookup(c, key, write=True)
        if stream is None:
            if parsed.nomkstream:
                return null(c.proto)
            fresh = Stream()
            entry_id = fresh.add(parsed.fields, parsed.id_spec, now_ms=c.db.now_ms)
            trimmed = _trim(fresh, parsed.trim) if parsed.trim is not None else 0
            c.db.set(key, fresh)
            stream = fresh
        else:
            before = stream.nbytes
            entry_id = stream.add(parsed.fields, parsed.id_spec, now_ms=c.db.now_ms)
            trimmed = _trim(stream, parsed.trim) if parsed.trim is not None else 0
            _changed(c, key, stream, before)
    except StreamError as exc:
        raise _fail(exc) from None
    text_id = format_id(entry_id)
    if trimmed:
        c.propagate = [[b"XADD", key, text_id, *parsed.fields],
                       _exact_trim_argv(key, stream)]
    else:
        c.propagate = [[b"XADD", key, text_id, *parsed.fields]]
    c.db.pushed(key)
    return b"$%d\r\n%b\r\n" % (len(text_id), text_id)


# XTRIM key <MAXLEN | MINID> [= | ~] threshold [LIMIT count]
@command("xtrim", arity=-4, flags="write", keys=(1, 1, 1), group="stream",
         summary="Deletes messages from the beginning of a stream.", since="5.0.0")
def xtrim(c: Any, argv: list[bytes]) -> bytes:
    try:
        trim = stream_args.parse_xtrim(argv)
    except StreamError as exc:
        raise _fail(exc) from None
    key = argv[1]
    stream = _lookup(c, key, write=True)
    if stream is None:
        return integer(0)
    before = stream.nbytes
    removed = _trim(stream, trim)
    if removed:
        _changed(c, key, stream, before)
        c.propagate = [_exact_trim_argv(key, stream)]
    return integer(removed)


# XDEL key id [id ...]
@command("xdel", arity=-3, flags="write fast", keys=(1, 1, 1), group="stream",
         summary="Returns the number of messages after removing them from a stream.",
         since="5.0.0")
def xdel(c: Any, argv: list[bytes]) -> bytes:
    try:
        ids = stream_args.parse_ids(argv[2:])
    except StreamError as exc:
        raise _fail(exc) from None
    stream = _lookup(c, argv[1], write=True)
    if stream is None:
        return integer(0)
    before = stream.nbytes
    deleted = stream.delete(ids)
    if deleted:
        _changed(c, argv[1], stream, before)
    return integer(deleted)


# XLEN key
@command("xlen", arity=2, flags="readonly fast", keys=(1, 1, 1), group="stream",
         summary="Return the number of messages in a stream.", since="5.0.0")
def xlen(c: Any, argv: list[bytes]) -> bytes:
    stream = _lookup(c, argv[1])
    return integer(0 if stream is None else len(stream))


def _range(c: Any, argv: list[bytes], *, reverse: bool) -> bytes:
    try:
        parsed = stream_args.parse_range(argv, reverse=reverse)
    except StreamError as exc:
        raise _fail(exc) from None
    stream = _lookup(c, parsed.key)
    if stream is None:
        return EMPTY_ARRAY
    if parsed.count == 0:
        return null_array(c.proto)  # Redis answers COUNT 0 with a nil, not an empty array
    if parsed.start is None or parsed.end is None:
        return EMPTY_ARRAY
    entries = stream.range(parsed.start, parsed.end, max(parsed.count, 0), reverse=reverse)
    return _entries(entries, c.proto)


# XRANGE key start end [COUNT count]
@command("xrange", arity=-4, flags="readonly", keys=(1, 1, 1), group="stream",
         summary="Return a range of elements in a stream.", since="5.0.0")
def xrange(c: Any, argv: list[bytes]) -> bytes:
    return _range(c, argv, reverse=False)


# XREVRANGE key end start [COUNT count]
@command("xrevrange", arity=-4, flags="readonly", keys=(1, 1, 1), group="stream",
         summary="Return a range of elements in a stream, in reverse order.", since="5.0.0")
def xrevrange(c: Any, argv: list[bytes]) -> bytes:
    return _range(c, argv, reverse=True)


# -- XREAD, XREADGROUP ------------------------------------------------------------------

def _block_timeout_s(block_ms: int) -> float:
    return min(block_ms / 1000.0, BLOCK_TIMEOUT_S_MAX)


def _read_reply(results: list[tuple[bytes, bytes]], proto: int) -> bytes:
    if proto == 3:
        parts = [map_header(len(results), 3)]
        parts.extend(bulk(key) + body for key, body in results)
    else:
        parts = [array_header(len(results))]
        parts.extend(b"*2\r\n" + bulk(key) + body for key, body in results)
    return b"".join(parts)


# XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
@command("xread", arity=-4, flags="readonly blocking", group="stream",
         summary="Return never seen elements in multiple streams, with IDs greater than the "
                 "ones reported by the caller for each stream. Can block.", since="5.0.0")
def xread(c: Any, argv: list[bytes]) -> bytes | Block:
    try:
        parsed = stream_args.parse_read(argv, group_form=False)
    except StreamError as exc:
        raise _fail(exc) from None
    streams_at = len(argv) - 2 * len(parsed.keys)
    results: list[tuple[bytes, bytes]] = []
    for index, key in enumerate(parsed.keys):
        if c.blocked and type(c.db.peek(key)) is not Stream:
            continue  # a re-run: a key deleted or now of another type is waited on still
        stream = _lookup(c, key)
        raw = parsed.ids[index]
        if raw == b"$":
            last = stream.last_id if stream is not None else 0
            # Pin '$' so that a re-run after a wake-up reads after this ID.
            argv[streams_at + len(parsed.keys) + index] = format_id(last)
            continue
        if stream is None:
            continue
        after = parse_id(raw)
        entries = stream.after(after, parsed.count)
        if entries:
            results.append((key, _entries(entries, c.proto)))
    if results:
        return _read_reply(results, c.proto)
    if parsed.block_ms is None:
        return null_array(c.proto)
    return Block(parsed.keys, _block_timeout_s(parsed.block_ms))


def _claim_argv(key: bytes, group: ConsumerGroup, consumer: bytes, entry_id: int,
                pending: PendingEntry | None) -> list[bytes]:
    """The deterministic form of a delivery or claim, as Redis propagates it."""
    if pending is None:  # the entry left the PEL (deleted from the stream)
        return [b"XACK", key, group.name, format_id(entry_id)]
    return [b"XCLAIM", key, group.name, consumer, b"0", format_id(entry_id),
            b"TIME", b"%d" % pending.delivery_time_ms,
            b"RETRYCOUNT", b"%d" % pending.delivery_count,
            b"FORCE", b"JUSTID", b"LASTID", format_id(group.last_id)]


def _setid_argv(key: bytes, group: ConsumerGroup) -> list[bytes]:
    entries_read = -1 if group.entries_read is None else group.entries_read
    return [b"XGROUP", b"SETID", key, group.name, format_id(group.last_id),
            b"ENTRIESREAD", b"%d" % entries_read]


# XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK]
#            STREAMS key [key ...] id [id ...]
@command("xreadgroup", arity=-7, flags="write blocking", group="stream",
         summary="Return new entries from a stream using a consumer group, or access the "
                 "history of the pending messages for a given consumer. Can block.",
         since="5.0.0")
def xreadgroup(c: Any, argv: list[bytes]) -> bytes | Block:
    try:
        parsed = stream_args.parse_read(argv, group_form=True)
    except StreamError as exc:
        raise _fail(exc) from None
    group_name = parsed.group or b""
    consumer = parsed.consumer or b""
    now_ms = c.db.now_ms
    targets: list[tuple[bytes, Stream, ConsumerGroup, bytes]] = []
    for key, raw in zip(parsed.keys, parsed.ids, strict=True):
        if c.blocked and type(c.db.peek(key)) is not Stream:
            # A re-run of a parked read whose stream was deleted, renamed away, expired
            # or overwritten by another type: Redis 7.0 unblocks it with this error.
            raise CommandError(error(ERR_UNBLOCKED_NO_KEY))
        stream = _lookup(c, key, write=True)
        group = None if stream is None else stream.groups.get(group_name)
        if stream is None or group is None:
            if c.blocked:  # re-run of a parked read: its group went away
                raise CommandError(error(ERR_UNBLOCKED_NO_GROUP))
            raise _fail(nogroup_readgroup(key, group_name))
        targets.append((key, stream, group, raw))
    results: list[tuple[bytes, bytes]] = []
    propagate: list[list[bytes]] = []
    for key, _stream, group, raw in targets:
        known = consumer in group.consumers
        mark = len(propagate)
        if raw == b">":
            entries = group.read_new(consumer, parsed.count, noack=parsed.noack,
                                     now_ms=now_ms)
            if entries:
                results.append((key, _entries(entries, c.proto)))
                if not parsed.noack:
                    propagate.extend(_claim_argv(key, group, consumer, i, group.pel.get(i))
                                     for i, _ in entries)
                propagate.append(_setid_argv(key, group))
        else:
            history = group.read_history(consumer, parse_id(raw), parsed.count,
                                         now_ms=now_ms)
            results.append((key, _entries(history, c.proto)))
            propagate.extend(_claim_argv(key, group, consumer, i, group.pel.get(i))
                             for i, fields in history if fields is not None)
        created = not known and consumer in group.consumers
        if created:
            propagate.insert(mark, [b"XGROUP", b"CREATECONSUMER", key, group_name, consumer])
        if created or len(propagate) > mark:
            c.db.grew(key, 0)
    if propagate:
        c.propagate = propagate
    if results:
        return _read_reply(results, c.proto)
    if parsed.block_ms is None:
        return null_array(c.proto)
    return Block(parsed.keys, _block_timeout_s(parsed.block_ms))


# -- groups -----------------------------------------------------------------------------

# XGROUP CREATE key group <id | $> [MKSTREAM] [ENTRIESREAD entries-read]
# XGROUP SETID key group <id | $> [ENTRIESREAD entries-read]
# XGROUP DESTROY key group
# XGROUP CREATECONSUMER key group consumer
# XGROUP DELCONSUMER key group consumer
@command("xgroup", arity=-2, flags="write", keys=(2, 2, 1), group="stream",
         summary="A container for consumer groups commands.", since="5.0.0",
         subcommands=("create", "setid", "destroy", "createconsumer", "delconsumer", "help"))
def xgroup(c: Any, argv: list[bytes]) -> bytes:
    sub = argv[1].lower()
    if sub == b"help":
        return _help()
    arity = {b"create": -5, b"setid": -5, b"destroy": 4, b"createconsumer": 5,
             b"delconsumer": 5}.get(sub)
    if arity is None:
        raise CommandError(error(
            f"ERR unknown subcommand '{argv[1].decode(errors='replace')}'. Try XGROUP HELP."))
    if (len(argv) != arity) if arity > 0 else (len(argv) < -arity):
        raise CommandError(error(
            f"ERR wrong number of arguments for 'xgroup|{sub.decode()}' command"))
    key, name = argv[2], argv[3]
    try:
        if sub in (b"create", b"setid"):
            return _group_create(c, argv, sub == b"setid")
        stream = _lookup(c, key, write=True)
        if stream is None:
            raise _fail(StreamError(ERR_XGROUP_NO_KEY))
        if sub == b"destroy":
            if stream.destroy_group(name):
                c.db.grew(key, 0)
                c.db.pushed(key)  # readers parked on this group get their error now
                return integer(1)
            return integer(0)
        group = stream.groups.get(name)
        if group is None:
            raise nogroup_for_key(key, name)
        if sub == b"createconsumer":
            if group.create_consumer(argv[4], c.db.now_ms):
                c.db.grew(key, 0)
                return integer(1)
            return integer(0)
        dropped = group.delete_consumer(argv[4])
        c.db.grew(key, 0)
        return integer(dropped)
    except StreamError as exc:
        raise _fail(exc) from None


def _group_create(c: Any, argv: list[bytes], setid: bool) -> bytes:
    parsed = stream_args.parse_group_create(argv, setid=setid)
    key, name = parsed.key, parsed.group
    stream = _lookup(c, key, write=True)
    if stream is None:
        if setid or not parsed.mkstream:
            raise StreamError(ERR_XGROUP_NO_KEY)
        stream = Stream()
        c.db.set(key, stream)
    last_id = stream.last_id if parsed.id_spec == b"$" else parse_strict_id(parsed.id_spec)
    if setid:
        group = stream.groups.get(name)
        if group is None:
            raise nogroup_for_key(key, name)
        group.set_id(last_id, parsed.entries_read)
    else:
        group = stream.create_group(name, last_id, parsed.entries_read)
    c.db.grew(key, 0)
    entries_read = -1 if parsed.entries_read is None else parsed.entries_read
    c.propagate = [[b"XGROUP", b"SETID" if setid else b"CREATE", key, name,
                    format_id(last_id), *([] if setid else [b"MKSTREAM"]),
                    b"ENTRIESREAD", b"%d" % entries_read]]
    return OK


def _help() -> bytes:
    lines = [b"XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
             b"CREATE <key> <groupname> <id|$> [option]",
             b"DESTROY <key> <groupname>", b"CREATECONSUMER <key> <groupname> <consumer>",
             b"DELCONSUMER <key> <groupname> <consumer>",
             b"SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]", b"HELP"]
    return array_header(len(lines)) + b"".join(b"+%b\r\n" % line for line in lines)


# XACK key group id [id ...]
@command("xack", arity=-4, flags="write fast", keys=(1, 1, 1), group="stream",
         summary="Marks a pending message as correctly processed.", since="5.0.0")
def xack(c: Any, argv: list[bytes]) -> bytes:
    try:
        ids = stream_args.parse_ids(argv[3:])
    except StreamError as exc:
        raise _fail(exc) from None
    stream = _lookup(c, argv[1], write=True)
    group = None if stream is None else stream.groups.get(argv[2])
    if group is None:
        return integer(0)
    acked = group.ack(ids)
    if acked:
        c.db.grew(argv[1], 0)
    return integer(acked)


# XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
@command("xpending", arity=-3, flags="readonly", keys=(1, 1, 1), group="stream",
         summary="Return information and entries from a stream consumer group pending "
                 "entries list.", since="5.0.0")
def xpending(c: Any, argv: list[bytes]) -> bytes:
    try:
        parsed = stream_args.parse_pending(argv)
    except StreamError as exc:
        raise _fail(exc) from None
    _, group = _group(c, parsed.key, parsed.group, write=False)
    if not parsed.extended:
        summary = group.pending_summary()
        if summary.count == 0 or summary.first_id is None or summary.last_id is None:
            nil = null(c.proto)
            return b"*4\r\n" + integer(0) + nil + nil + null_array(c.proto)
        parts = [b"*4\r\n", integer(summary.count), _id_bulk(summary.first_id),
                 _id_bulk(summary.last_id), array_header(len(summary.per_consumer))]
        parts.extend(b"*2\r\n" + bulk(name) + bulk(b"%d" % n)
                     for name, n in summary.per_consumer)
        return b"".join(parts)
    if parsed.start is None or parsed.end is None:
        return EMPTY_ARRAY
    details = group.pending_range(parsed.start, parsed.end, parsed.count,
                                  now_ms=c.db.now_ms, min_idle_ms=parsed.min_idle_ms,
                                  consumer=parsed.consumer)
    parts = [array_header(len(details))]
    parts.extend(b"*4\r\n" + _id_bulk(d.entry_id) + bulk(d.consumer) + integer(d.idle_ms)
                 + integer(d.delivery_count) for d in details)
    return b"".join(parts)


# XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms]
#        [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]
@command("xclaim", arity=-6, flags="write fast", keys=(1, 1, 1), group="stream",
         summary="Changes (or acquires) ownership of a message in a consumer group, as if "
                 "the message was delivered to the specified consumer.", since="5.0.0")
def xclaim(c: Any, argv: list[bytes]) -> bytes:
    try:
        parsed = stream_args.parse_claim(argv)
    except StreamError as exc:
        raise _fail(exc) from None
    key = parsed.key
    _, group = _group(c, key, parsed.group)
    now_ms = c.db.now_ms
    delivery_time_ms = parsed.time_ms
    if parsed.idle_ms is not None:
        delivery_time_ms = now_ms - parsed.idle_ms
    pel_before = set(group.pel).intersection(parsed.ids)
    claimed = group.claim(parsed.consumer, parsed.min_idle_ms, parsed.ids, now_ms=now_ms,
                          delivery_time_ms=delivery_time_ms, retry_count=parsed.retry_count,
                          force=parsed.force, justid=parsed.justid, last_id=parsed.last_id)
    dropped = [i for i in pel_before if i not in group.pel]
    propagate = [_claim_argv(key, group, parsed.consumer, i, group.pel.get(i))
                 for i, _ in claimed]
    propagate.extend(_claim_argv(key, group, parsed.consumer, i, None) for i in dropped)
    if parsed.last_id is not None:
        propagate.append(_setid_argv(key, group))
    if propagate:  # nothing claimed or dropped: not a write, nothing to replay
        c.db.grew(key, 0)
        c.propagate = propagate
    if parsed.justid:
        return _ids([i for i, _ in claimed])
    return _entries(claimed, c.proto)


# XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
@command("xautoclaim", arity=-6, flags="write fast", keys=(1, 1, 1), group="stream",
         summary="Changes (or acquires) ownership of messages in a consumer group, as if "
                 "the messages were delivered to the specified consumer.", since="6.2.0")
def xautoclaim(c: Any, argv: list[bytes]) -> bytes:
    try:
        parsed = stream_args.parse_autoclaim(argv)
    except StreamError as exc:
        raise _fail(exc) from None
    key = parsed.key
    _, group = _group(c, key, parsed.group)
    if parsed.start is None:
        return b"*3\r\n" + _id_bulk(0) + EMPTY_ARRAY + EMPTY_ARRAY
    result = group.autoclaim(parsed.consumer, parsed.min_idle_ms, parsed.start,
                             parsed.count, now_ms=c.db.now_ms, justid=parsed.justid)
    propagate = [_claim_argv(key, group, parsed.consumer, i, group.pel.get(i))
                 for i, _ in result.claimed]
    propagate.extend(_claim_argv(key, group, parsed.consumer, i, None)
                     for i in result.deleted_ids)
    if propagate:
        c.db.grew(key, 0)
        c.propagate = propagate
    claimed = (_ids([i for i, _ in result.claimed]) if parsed.justid
               else _entries(result.claimed, c.proto))
    return b"*3\r\n" + _id_bulk(result.next_id) + claimed + _ids(result.deleted_ids)


# XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
@command("xsetid", arity=-3, flags="write denyoom fast", keys=(1, 1, 1), group="stream",
         summary="An internal command for replicating stream values.", since="5.0.0")
def xsetid(c: Any, argv: list[bytes]) -> bytes:
    try:
        last_id = parse_strict_id(argv[2])
        entries_added = max_deleted = None
        i = 3
        while i < len(argv):
            opt = argv[i].lower()
            if opt == b"entriesadded" and i + 1 < len(argv):
                entries_added = stream_args.parse_int(argv[i + 1])
            elif opt == b"maxdeletedid" and i + 1 < len(argv):
                max_deleted = parse_strict_id(argv[i + 1])
            else:
                raise CommandError(error("ERR syntax error"))
            i += 2
    except StreamError as exc:
        raise _fail(exc) from None
    stream = _lookup(c, argv[1], write=True)
    if stream is None:
        raise CommandError(error("ERR no such key"))
    if len(stream) and last_id < stream.last_id:
        raise CommandError(error("ERR The ID specified in XSETID is smaller than the target "
                                 "stream top item"))
    if entries_added is not None and entries_added < len(stream):
        raise CommandError(error("ERR The entries_added specified in XSETID is smaller than "
                                 "the target stream length"))
    stream.set_last_id(last_id, entries_added=entries_added, max_deleted_id=max_deleted)
    c.db.grew(argv[1], 0)
    return OK


# -- XINFO ------------------------------------------------------------------------------

def _pairs(pairs: list[tuple[bytes, bytes]], proto: int) -> bytes:
    return map_header(len(pairs), proto) + b"".join(bulk(k) + v for k, v in pairs)


def _entry_or_nil(entry: Entry | None, proto: int) -> bytes:
    return null(proto) if entry is None else _entry(entry[0], entry[1], proto)


def _lag_reply(group: ConsumerGroup, proto: int) -> bytes:
    lag = group.lag()
    return null(proto) if lag is None else integer(lag)


# XINFO STREAM key FULL [COUNT count]: everything, entries and PELs up to COUNT (0: all).
def _xinfo_stream_full(c: Any, stream: Stream, argv: list[bytes]) -> bytes:
    count = 10
    if argv[3].lower() != b"full" or len(argv) not in (4, 6) or (
            len(argv) == 6 and argv[4].lower() != b"count"):
        raise CommandError(error("ERR syntax error"))
    if len(argv) == 6:
        try:
            count = max(0, stream_args.parse_int(argv[5]))
        except StreamError as exc:
            raise _fail(exc) from None
    proto = c.proto
    blocks = (len(stream) + TRIM_BLOCK_ENTRIES - 1) // TRIM_BLOCK_ENTRIES
    group_parts = [array_header(len(stream.groups))]
    for _, group in sorted(stream.groups.items()):
        pel_ids = sorted(group.pel)
        shown = pel_ids if count == 0 else pel_ids[:count]
        pel = array_header(len(shown)) + b"".join(
            b"*4\r\n" + _id_bulk(i) + bulk(group.pel[i].consumer.name)
            + integer(group.pel[i].delivery_time_ms) + integer(group.pel[i].delivery_count)
            for i in shown)
        consumer_parts = [array_header(len(group.consumers))]
        for consumer in sorted(group.consumers.values(), key=lambda x: x.name):
            owned = sorted(consumer.pending)
            mine = owned if count == 0 else owned[:count]
            consumer_pel = array_header(len(mine)) + b"".join(
                b"*3\r\n" + _id_bulk(i) + integer(consumer.pending[i].delivery_time_ms)
                + integer(consumer.pending[i].delivery_count) for i in mine)
            consumer_parts.append(_pairs([
                (b"name", bulk(consumer.name)),
                (b"seen-time", integer(consumer.seen_time_ms)),
                (b"pel-count", integer(len(owned))),
                (b"pending", consumer_pel),
            ], proto))
        group_parts.append(_pairs([
            (b"name", bulk(group.name)),
            (b"last-delivered-id", _id_bulk(group.last_id)),
            (b"entries-read", null(proto) if group.entries_read is None
             else integer(group.entries_read)),
            (b"lag", _lag_reply(group, proto)),
            (b"pel-count", integer(len(pel_ids))),
            (b"pending", pel),
            (b"consumers", b"".join(consumer_parts)),
        ], proto))
    entries = stream.entries() if count == 0 else stream.range(0, ID_MAX, count)
    return _pairs([
        (b"length", integer(len(stream))),
        (b"radix-tree-keys", integer(blocks)),
        (b"radix-tree-nodes", integer(blocks + 1)),
        (b"last-generated-id", _id_bulk(stream.last_id)),
        (b"max-deleted-entry-id", _id_bulk(stream.max_deleted_id)),
        (b"entries-added", integer(stream.entries_added)),
        (b"recorded-first-entry-id", _id_bulk(stream.first_id)),
        (b"entries", _entries(entries, proto)),
        (b"groups", b"".join(group_parts)),
    ], proto)


# XINFO STREAM key [FULL [COUNT count]] | XINFO GROUPS key | XINFO CONSUMERS key group
@command("xinfo", arity=-2, flags="readonly", keys=(2, 2, 1), group="stream",
         summary="A container for stream introspection commands.", since="5.0.0",
         subcommands=("stream", "groups", "consumers", "help"))
def xinfo(c: Any, argv: list[bytes]) -> bytes:
    sub = argv[1].lower()
    proto = c.proto
    if sub == b"help":
        lines = [b"XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                 b"CONSUMERS <key> <groupname>", b"GROUPS <key>", b"STREAM <key>", b"HELP"]
        return array_header(len(lines)) + b"".join(b"+%b\r\n" % line for line in lines)
    arity = {b"stream": -3, b"groups": 3, b"consumers": 4}.get(sub)
    if arity is None:
        raise CommandError(error(
            f"ERR unknown subcommand '{argv[1].decode(errors='replace')}'. Try XINFO HELP."))
    if (len(argv) != arity) if arity > 0 else (len(argv) < -arity):
        raise CommandError(error(
            f"ERR wrong number of arguments for 'xinfo|{sub.decode()}' command"))
    key = argv[2]
    stream = _lookup(c, key)
    if stream is None:
        raise CommandError(error("ERR no such key"))
    now_ms = c.db.now_ms
    if sub == b"stream":
        if len(argv) > 3:
            return _xinfo_stream_full(c, stream, argv)
        blocks = (len(stream) + TRIM_BLOCK_ENTRIES - 1) // TRIM_BLOCK_ENTRIES
        return _pairs([
            (b"length", integer(len(stream))),
            (b"radix-tree-keys", integer(blocks)),
            (b"radix-tree-nodes", integer(blocks + 1)),
            (b"last-generated-id", _id_bulk(stream.last_id)),
            (b"max-deleted-entry-id", _id_bulk(stream.max_deleted_id)),
            (b"entries-added", integer(stream.entries_added)),
            (b"recorded-first-entry-id", _id_bulk(stream.first_id)),
            (b"groups", integer(len(stream.groups))),
            (b"first-entry", _entry_or_nil(stream.first_entry(), proto)),
            (b"last-entry", _entry_or_nil(stream.last_entry(), proto)),
        ], proto)
    if sub == b"groups":
        parts = [array_header(len(stream.groups))]
        for _, group in sorted(stream.groups.items()):  # by name, as Redis's radix tree
            lag = group.lag()
            parts.append(_pairs([
                (b"name", bulk(group.name)),
                (b"consumers", integer(len(group.consumers))),
                (b"pending", integer(len(group.pel))),
                (b"last-delivered-id", _id_bulk(group.last_id)),
                (b"entries-read", null(proto) if group.entries_read is None
                 else integer(group.entries_read)),
                (b"lag", null(proto) if lag is None else integer(lag)),
            ], proto))
        return b"".join(parts)
    found = stream.groups.get(argv[3])
    if found is None:
        raise _fail(nogroup_for_key(key, argv[3]))
    parts = [array_header(len(found.consumers))]
    parts.extend(_pairs([
        (b"name", bulk(consumer.name)),
        (b"pending", integer(len(consumer.pending))),
        (b"idle", integer(max(0, now_ms - consumer.seen_time_ms))),
    ], proto) for consumer in sorted(found.consumers.values(), key=lambda x: x.name))
    return b"".join(parts)



# -- request tracing -------------------------------------------------------------------

REQUEST_ID_FIELD = b"request_id"
TRACE_FIELD_PAIRS_MAX = 16  # field pairs looked at, from the last one back


def traced_request_id(argv: list[bytes]) -> bytes | None:
    """The value of XADD's ``request_id`` field, or None.

    Fields are the trailing pairs of argv, so walking pairs back from the end never
    mistakes a value for a field name (a post whose text is "request_id" included);
    argv[0:2] (XADD key) is never taken for a pair. A request id is logged, never obeyed,
    so in the rare argv this bounded walk would misread, the cost is a wrong log line.
    """
    last_pair = max(2, len(argv) - 2 * TRACE_FIELD_PAIRS_MAX)
    for i in range(len(argv) - 2, last_pair - 1, -2):
        if argv[i] == REQUEST_ID_FIELD:
            return argv[i + 1]
    return None


def _traced(plain: Handler) -> Handler:
    def xadd_traced(c: Any, argv: list[bytes]) -> Any:
        reply = plain(c, argv)
        if type(reply) is bytes and reply[:1] == b"$":  # an entry id: the XADD happened
            request_id = traced_request_id(argv)
            if request_id:
                logs.request("xadd", request_id, key=argv[1].decode("utf-8", "replace"),
                             entry_id=reply.split(b"\r\n")[1].decode("ascii"),
                             client=c.addr, replica=bool(c.engine.readonly))
        return reply

    return xadd_traced


_xadd_handlers: dict[bool, Handler] = {}  # tracing wanted -> XADD's handler


def _trace_xadd(wanted: bool) -> None:
    """Put the traced or the plain XADD handler in the command table (shared by engines)."""
    cmd = TABLE.get(b"xadd")
    assert cmd is not None  # registered above
    if not _xadd_handlers:
        _xadd_handlers[False] = cmd.handler
        _xadd_handlers[True] = _traced(cmd.handler)
    cmd.handler = _xadd_handlers[wanted]


logs.on_tracing(_trace_xadd)
