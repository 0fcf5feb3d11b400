"""Streams: the append-only log type, consumer groups and the dead-letter policy.

``Stream`` holds the entries and groups; ``ids`` packs and parses entry IDs; ``args``
parses the commands' arguments; ``deliveries`` is the consumer-group transition table;
``deadletter`` decides redelivery and dead-lettering. All pure: time arrives as ``now_ms``.
"""

from __future__ import annotations

from hld.core.stream.errors import StreamError
from hld.core.stream.ids import format_id, make_id, parse_id
from hld.core.stream.stream import Consumer, ConsumerGroup, PendingEntry, Stream

__all__ = [
    "Consumer", "ConsumerGroup", "PendingEntry", "Stream", "StreamError", "format_id",
    "make_id", "parse_id",
]
