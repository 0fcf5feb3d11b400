"""Stream errors, worded as Redis words them.

Clients (redis-py, worker code) match on the prefix (``ERR``, ``NOGROUP``, ``BUSYGROUP``)
and sometimes on the text, so the messages are Redis's, kept in one place.
"""

from __future__ import annotations


class StreamError(Exception):
    """A command error; ``str(exc)`` is the full reply text including its prefix."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


ERR_INVALID_ID = "ERR Invalid stream ID specified as stream command argument"
ERR_ADD_ID_TOO_SMALL = (
    "ERR The ID specified in XADD is equal or smaller than the target stream top item")
ERR_ADD_ID_ZERO = "ERR The ID specified in XADD must be greater than 0-0"
ERR_SYNTAX = "ERR syntax error"
ERR_NOT_INTEGER = "ERR value is not an integer or out of range"
ERR_BUSYGROUP = "BUSYGROUP Consumer Group name already exists"
ERR_XGROUP_NO_KEY = (
    "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may "
    "want to use the MKSTREAM option to create an empty stream automatically.")
ERR_LIMIT_WITHOUT_APPROX = "ERR syntax error, LIMIT cannot be used without the special ~ option"
ERR_TIMEOUT_NEGATIVE = "ERR timeout is negative"
ERR_TIMEOUT_NOT_INTEGER = "ERR timeout is not an integer or out of range"
ERR_UNBALANCED_XREAD = (
    "ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be "
    "specified.")
ERR_UNBALANCED_XREADGROUP = (
    "ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' must be "
    "specified.")
ERR_XREAD_GT = (
    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history "
    "of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ "
    "ID would just return an empty result set.")
ERR_XREAD_GT_IN_XREAD = (
    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> "
    "<consumer> option.")
ERR_MAXLEN_NEGATIVE = "ERR The MAXLEN argument must be >= 0."
ERR_LIMIT_NEGATIVE = "ERR The LIMIT argument must be >= 0."
ERR_COUNT_AUTOCLAIM = "ERR COUNT must be > 0"
ERR_ENTRIES_READ = "ERR value for ENTRIESREAD must be positive or -1"
ERR_MIN_IDLE = "ERR Invalid min-idle-time argument for XCLAIM"
ERR_FIELDS = "ERR wrong number of arguments for 'xadd' command"


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def nogroup(key: bytes, group: bytes) -> StreamError:
    """The NOGROUP error of XACK, XPENDING, XCLAIM, XAUTOCLAIM."""
    return StreamError(f"NOGROUP No such key '{_text(key)}' or consumer group '{_text(group)}'")


def nogroup_readgroup(key: bytes, group: bytes) -> StreamError:
    return StreamError(f"NOGROUP No such key '{_text(key)}' or consumer group "
                       f"'{_text(group)}' in XREADGROUP with GROUP option")


def nogroup_for_key(key: bytes, group: bytes) -> StreamError:
    """The NOGROUP error of XGROUP SETID/DELCONSUMER/CREATECONSUMER and XINFO CONSUMERS."""
    return StreamError(
        f"NOGROUP No such consumer group '{_text(group)}' for key name '{_text(key)}'")
