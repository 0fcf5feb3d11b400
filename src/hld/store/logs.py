"""hld-store's structured logs: every ``hld.store.*`` logging record as one JSON line.

Strategy: the store's modules keep using plain ``logging`` loggers (cheap, and quiet in
tests that run a server in-process); the process entry point (``run_server``) calls
``configure`` once, which puts a JSON formatter on the ``hld.store`` logger, writing to
stdout. A line has the fields the other components' logs have (``ts`` Unix seconds,
``level``, ``event``, ``component``: "store", ``request_id``: empty, administrative
events concern no request) plus ``logger`` and whatever ``event(...)`` was given, so
``hld logs`` merges the store with the rest of the system.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, TextIO

COMPONENT = "store"
LOGGER_NAME = "hld.store"
# Redis' loglevel names -> logging levels (the store logs notable events at WARNING so
# they show without configuration; notice, the default, shows INFO and up).
LEVELS = {"debug": logging.DEBUG, "verbose": logging.INFO, "notice": logging.INFO,
          "warning": logging.WARNING}
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime"}

log = logging.getLogger(LOGGER_NAME)


class JsonFormatter(logging.Formatter):
    """One JSON object per record; ``extra`` fields are copied in as they are."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 6), "level": record.levelname.lower(),
            "event": record.getMessage(), "component": COMPONENT, "request_id": "",
            "logger": record.name}
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in line:
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
