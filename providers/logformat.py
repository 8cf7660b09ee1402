"""Log lines: plain text or one JSON object per line (`LOG_FORMAT`), each with the request id.

Wired in settings.LOGGING: `RequestIdFilter` on the console handler puts the current request's
id (providers/context.py) on every record, so every line of a run, ours and Agno's, carries it;
`formatter()` picks the format from the app setting when logging is configured (Django setup).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from . import context
from .conf import app_settings

PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = context.current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "request_id"[, "exception"]}`, one line each."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or "",
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def formatter() -> logging.Formatter:
    """The console formatter for `LOG_FORMAT` ("plain" or "json")."""
    choice = str(app_settings.LOG_FORMAT).strip().lower()
    if choice == "json":
        return JsonFormatter()
    if choice != "plain":
        raise ValueError(f"LOG_FORMAT must be 'plain' or 'json', not {choice!r}")
    return logging.Formatter(PLAIN)
