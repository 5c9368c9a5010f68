"""Log lines as JSON objects, one per line (``GRADER_LOG_FORMAT=json``; text by default).

Each line has ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, plus whatever the call
passed as ``extra=``: the grading path passes ``submission_id``, ``attempt`` and ``worker``, so a
log search for one submission finds its whole story across web, worker and beat processes.

The app factory calls ``configure_logging``, so web (gunicorn), workers and beat all get it: it puts
one JSON handler on the root logger, and tells Celery to leave logging alone (Celery's worker would
otherwise install its own text handlers when it starts, after the factory ran).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # default=str: a library's extra (a datetime, an object) must never cost the line itself.
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(log_format: str) -> None:
    """Apply the configured format to this process (idempotent); "text" leaves logging as it is."""
    if log_format != "json":
        return
    root = logging.getLogger()
    if not any(isinstance(handler.formatter, JsonFormatter) for handler in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)  # the grading path's lines are INFO
    from celery.signals import setup_logging

    # A receiver of setup_logging means Celery configures nothing itself: no text handlers of its
    # own and no redirection of stdout; the worker's --loglevel still applies, through here.
    setup_logging.connect(_celery_setup_logging, weak=False, dispatch_uid="grader-json-logs")


def _celery_setup_logging(loglevel: int | str | None = None, **_: Any) -> None:
    configure_logging("json")
    if loglevel:
        logging.getLogger().setLevel(loglevel)
