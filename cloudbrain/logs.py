"""How the long-running commands (``cloudbrain server``, ``cloudbrain agent run``) log: one
setup for all of them, in lines for people (``text``) or one JSON object per line for a log
collector (``json``), at the level asked for.

A JSON line holds ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, plus
``exception`` when the record carries one: a traceback stays inside its line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from cloudbrain.errors import CloudBrainError

FORMATS = ("text", "json")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def check(level: str, format: str) -> tuple[int, str]:
    """The level as a number and the format, or a :class:`CloudBrainError` naming the choices."""
    name = level.strip().upper()
    if name not in LEVELS:
        raise CloudBrainError(
            f"unknown log level {level!r}", hint=f"use one of {', '.join(LEVELS)}"
        )
    chosen = format.strip().lower()
    if chosen not in FORMATS:
        raise CloudBrainError(f"unknown log format {format!r}", hint="use text or json")
    return logging.getLevelNamesMapping()[name], chosen


def configure(level: str, format: str, quiet: Iterable[str] = ()) -> None:
    """Log to stderr at ``level`` in ``format`` (``text`` or ``json``). As with
    :func:`logging.basicConfig`, a process whose logging is set up already keeps its handlers.
    The loggers named in ``quiet`` only say warnings and worse (libraries whose lines repeat
    what ours say)."""
    number, chosen = check(level, format)
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if chosen == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=number, handlers=[handler])
    logging.getLogger().setLevel(number)
    for name in quiet:
        logging.getLogger(name).setLevel(max(logging.WARNING, number))
