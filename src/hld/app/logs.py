"""Structured JSON logs: one line per event on stderr, carrying the request ID.

Every line has ``ts`` (Unix seconds), ``level``, ``event``, ``component`` and
``request_id`` (empty outside a request), so ``hld logs --request-id ID`` can follow a
request from the gateway through the app to the worker that fanned it out.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO


class JsonLog:
    """Writes one JSON object per line; the component name is fixed per process."""

    def __init__(self, component: str, stream: TextIO | None = None) -> None:
        self.component = component
        self._stream = stream

    def __call__(self, event: str, *, level: str = "info", request_id: str = "",
                 **fields: Any) -> None:
        record = {"ts": round(time.time(), 6), "level": level, "event": event,
                  "component": self.component, "request_id": request_id, **fields}
        stream = self._stream or sys.stderr
        stream.write(json.dumps(record, default=str, separators=(",", ":")) + "\n")
        stream.flush()
