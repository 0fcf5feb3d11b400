"""hld-store's structured logs: every ``hld.store.*`` logging record as one JSON line.

Strategy: the store's modules keep using plain ``logging`` loggers (cheap, and quiet in
tests that run a server in-process); the process entry point (``run_server``) calls
``configure`` once, which puts a JSON formatter on the ``hld.store`` logger, writing to
stdout. A line has the fields the other components' logs have (``ts`` Unix seconds,
``level``, ``event``, ``component``: "store", ``request_id``: empty for administrative
events, which concern no request) plus ``logger`` and whatever ``event(...)`` was given,
so ``hld logs`` merges the store with the rest of the system.

Request tracing. A request id reaches the store in band, as data the client writes
anyway: chirp's fan-out entry (``XADD chirp:fanout ... request_id ID``) carries the
gateway's id to the worker, so the store logs the XADDs whose fields include a
``request_id`` (event ``xadd``, with the key and the entry id) and ``hld logs
--request-id`` shows gateway -> app -> store -> worker for one post. Alternatives were
worse: naming the connection per request (``CLIENT SETNAME``) costs a command per request
on a pooled connection shared by many requests, and a store-only tracing command would
break the app against a real redis-server, which simply keeps the field. The trace
lines are at Redis' ``verbose`` level (``--loglevel verbose``, or ``CONFIG SET loglevel``
live; ``hld up`` runs its store so). While that level is off, the command table holds the
plain XADD handler, so no command pays anything; turning it on swaps in a wrapper for
XADD alone (``on_tracing``), which looks at a successful XADD's last field pairs.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any, TextIO

COMPONENT = "store"
LOGGER_NAME = "hld.store"
VERBOSE = 15  # Redis' "verbose": between DEBUG and INFO; request traces log here
logging.addLevelName(VERBOSE, "VERBOSE")
# Redis' loglevel names -> logging levels (the store logs notable events at WARNING so
# they show without configuration; notice, the default, shows INFO and up).
LEVELS = {"debug": logging.DEBUG, "verbose": VERBOSE, "notice": logging.INFO,
          "warning": logging.WARNING}
REQUEST_ID_CHARS_MAX = 128  # a longer request id is cut (the gateway's are 32)
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime"}

_tracing_watchers: list[Callable[[bool], None]] = []


class StoreLogger(logging.Logger):
    """The ``hld.store`` logger; a level change (``configure``, ``CONFIG SET loglevel``)
    tells the request tracers whether trace lines are wanted now."""

    def setLevel(self, level: int | str) -> None:  # noqa: N802 (logging's name)
        super().setLevel(level)
        wanted = self.isEnabledFor(VERBOSE)
        for watcher in _tracing_watchers:
            watcher(wanted)


def _store_logger() -> StoreLogger:
    manager = logging.Logger.manager
    previous = manager.loggerClass
    manager.setLoggerClass(StoreLogger)
    try:
        logger = logging.getLogger(LOGGER_NAME)
    finally:
        manager.loggerClass = previous
    if not isinstance(logger, StoreLogger):  # made before this module, as a plain Logger
        logger.__class__ = StoreLogger
    assert isinstance(logger, StoreLogger)
    return logger


log = _store_logger()


class JsonFormatter(logging.Formatter):
    """One JSON object per record; ``extra`` fields are copied in as they are."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 6), "level": record.levelname.lower(),
            "event": record.getMessage(), "component": COMPONENT, "request_id": "",
            "logger": record.name}
        for key, value in record.__dict__.items():
            if key not in _RESERVED and (key not in line or key == "request_id"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


def configure(loglevel: str = "notice", stream: TextIO | None = None) -> logging.Handler:
    """Send ``hld.store.*`` records to ``stream`` (stdout) as JSON lines; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    for old in list(log.handlers):
        log.removeHandler(old)
    log.addHandler(handler)
    log.setLevel(LEVELS.get(loglevel, logging.INFO))
    log.propagate = False
    return handler


def event(name: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log an administrative event (start, shutdown, ...) with structured fields."""
    log.log(level, name, extra=fields)


def tracing() -> bool:
    """Whether request trace lines are logged now."""
    return log.isEnabledFor(VERBOSE)


def on_tracing(watcher: Callable[[bool], None]) -> None:
    """Call ``watcher(wanted)`` now and whenever the level turns tracing on or off."""
    _tracing_watchers.append(watcher)
    watcher(tracing())


def request(name: str, request_id: bytes, **fields: Any) -> None:
    """Log that a command carrying ``request_id`` ran (at VERBOSE)."""
    rid = request_id[:REQUEST_ID_CHARS_MAX].decode("utf-8", "replace")
    log.log(VERBOSE, name, extra={"request_id": rid, **fields})
