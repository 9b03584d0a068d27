"""Reading times the way people write them on a command line: ``2d``, ``90m``, ``yesterday``,
``2026-11-20``, ``2026-11-20T14:00``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from cloudbrain.errors import CloudBrainError

_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class BadTime(CloudBrainError):
    pass


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """An aware UTC datetime for ``text``: a span back from ``now``, a day word, or ISO 8601."""
    now = now or datetime.now(UTC)
    value = text.strip().lower()
    if match := _AGO.match(value):
        return now - timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if value == "now":
        return now
    if value == "today":
        return midnight
    if value == "yesterday":
        return midnight - timedelta(days=1)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadTime(
            f"cannot read {text!r} as a time",
            hint="use a span back from now (30m, 2h, 2d, 1w), today, yesterday, or an ISO "
            "date such as 2026-11-20 or 2026-11-20T14:00",
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
