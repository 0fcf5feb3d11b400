"""Pub/sub commands (Redis' pubsub.c): channels, patterns, PUBLISH, PUBSUB introspection.

Subscription confirmations are replies (arrays in RESP2, pushes in RESP3); messages are
pushed through the subscriber's ``push``. A RESP2 client with subscriptions may only run
the subscription commands, PING, QUIT and RESET (checked in the engine).
"""

from __future__ import annotations

from typing import Any

from hld.core.kv.glob import compile_glob
from hld.core.kv.replies import CommandError
from hld.core.resp.serializer import array_header, bulk, bulks, error, integer
from hld.store.commands import command


def _confirm(c: Any, kind: bytes, name: bytes | None) -> bytes:
    head = b">3\r\n" if c.proto == 3 else b"*3\r\n"
    target = (b"_\r\n" if c.proto == 3 else b"$-1\r\n") if name is None else bulk(name)
    return head + bulk(kind) + target + integer(c.subscriptions)


# SUBSCRIBE channel [channel ...]
@command("subscribe", arity=-2, flags="pubsub noscript loading stale", group="pubsub")
def subscribe(c: Any, argv: list[bytes]) -> bytes:
    """Listen for messages published to channels."""
    if c.multi is not None:
        return error("ERR SUBSCRIBE isn't allowed for a DENY BLOCKING client")
    out = []
    for channel in argv[1:]:
        c.engine.pubsub.subscribe(c, channel)
        out.append(_confirm(c, b"subscribe", channel))
    c.refresh()
    return b"".join(out)


# PSUBSCRIBE pattern [pattern ...]
@command("psubscribe", arity=-2, flags="pubsub noscript loading stale", group="pubsub")
def psubscribe(c: Any, argv: list[bytes]) -> bytes:
    """Listen for messages published to channels matching patterns."""
    out = []
    for pattern in argv[1:]:
        c.engine.pubsub.psubscribe(c, pattern)
        out.append(_confirm(c, b"psubscribe", pattern))
    c.refresh()
    return b"".join(out)


# UNSUBSCRIBE [channel ...]
@command("unsubscribe", arity=-1, flags="pubsub noscript loading stale", group="pubsub")
def unsubscribe(c: Any, argv: list[bytes]) -> bytes:
    """Stop listening to channels (all of them without arguments)."""
    channels = argv[1:] or sorted(c.channels)
    out = []
    for channel in channels:
        c.engine.pubsub.unsubscribe(c, channel)
        out.append(_confirm(c, b"unsubscribe", channel))
    if not out:
        out.append(_confirm(c, b"unsubscribe", None))
    c.refresh()
    return b"".join(out)


# PUNSUBSCRIBE [pattern ...]
@command("punsubscribe", arity=-1, flags="pubsub noscript loading stale", group="pubsub")
def punsubscribe(c: Any, argv: list[bytes]) -> bytes:
    """Stop listening to patterns (all of them without arguments)."""
    patterns = argv[1:] or sorted(c.patterns)
    out = []
    for pattern in patterns:
        c.engine.pubsub.punsubscribe(c, pattern)
        out.append(_confirm(c, b"punsubscribe", pattern))
    if not out:
        out.append(_confirm(c, b"punsubscribe", None))
    c.refresh()
    return b"".join(out)


# PUBLISH channel message
@command("publish", arity=3, flags="pubsub loading stale fast may_replicate", group="pubsub")
def publish(c: Any, argv: list[bytes]) -> bytes:
    """Post a message to a channel; returns the number of deliveries."""
    return integer(c.engine.pubsub.publish(argv[1], argv[2]))


# PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT
@command("pubsub", arity=-2, flags="pubsub loading stale", group="pubsub",
         subcommands=("channels", "numsub", "numpat", "help"))
def pubsub(c: Any, argv: list[bytes]) -> bytes:
    """Introspect the pub/sub state."""
    sub = argv[1].lower()
    registry = c.engine.pubsub
    if sub == b"channels" and len(argv) <= 3:
        pattern = argv[2] if len(argv) == 3 else None
        if pattern is None:
            return bulks(registry.active_channels())
        match = compile_glob(pattern)
        return bulks([ch for ch in registry.active_channels() if match(ch)])
    if sub == b"numsub":
        out = [array_header(2 * (len(argv) - 2))]
        out.extend(bulk(ch) + integer(registry.numsub(ch)) for ch in argv[2:])
        return b"".join(out)
    if sub == b"numpat" and len(argv) == 2:
        return integer(registry.numpat())
    if sub in (b"channels", b"numpat"):
        raise CommandError(error(
            f"ERR wrong number of arguments for 'pubsub|{sub.decode(errors='replace')}' command"))
    raise CommandError(error(
        f"ERR unknown subcommand '{argv[1].decode(errors='replace')}'. Try PUBSUB HELP."))
