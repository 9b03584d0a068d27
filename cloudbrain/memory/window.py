"""Questions about a stretch of time rather than a topic: "what did I learn yesterday?", "what
happened on the Jetson this week?".

Such a question has no topic word to search for, so recall by words or meaning finds nothing
in it. It is answered by listing the memories of its window instead, newest first, grouped by
device and session. The window is the ask's own (``--since``/``--until``) or, failing that,
one the question names: today, yesterday, this week, last week, the last N days.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from cloudbrain.memory.records import MemoryRecord
from cloudbrain.memory.text import words

# Words that say "tell me about that time", not what about.
_NOT_TOPICS = frozenset(
    [
        "what",
        "which",
        "did",
        "do",
        "does",
        "i",
        "we",
        "you",
        "learn",
        "learned",
        "learnt",
        "learning",
        "know",
        "knew",
        "remember",
        "remembered",
        "happen",
        "happened",
        "happening",
        "going",
        "go",
        "went",
        "on",
        "new",
        "news",
        "anything",
        "everything",
        "something",
        "stuff",
        "things",
        "thing",
        "store",
        "stored",
        "save",
        "saved",
        "note",
        "noted",
        "notes",
        "see",
        "saw",
        "tell",
        "told",
        "me",
        "us",
        "my",
        "our",
        "during",
        "since",
        "until",
        "today",
        "yesterday",
        "week",
        "weeks",
        "day",
        "days",
        "month",
        "last",
        "this",
        "past",
        "previous",
        "recent",
        "recently",
        "lately",
        "ago",
        "over",
        "few",
        "couple",
        "hour",
        "hours",
        "morning",
        "afternoon",
        "evening",
        "tonight",
        "night",
        "session",
        "sessions",
    ]
)
_LAST_DAYS = re.compile(r"\b(?:last|past)\s+(\d{1,3})\s+days?\b")
MAX_LISTED = 50  # memories listed for one window, newest first


def window_named(question: str, now: datetime) -> tuple[datetime, datetime] | None:
    """The window a question names, as [since, until), or None."""
    text = question.lower()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    monday = midnight - timedelta(days=midnight.weekday())
    if match := _LAST_DAYS.search(text):
        return now - timedelta(days=int(match[1])), now
    if "yesterday" in text:
        return midnight - timedelta(days=1), midnight
    if "today" in text or "this morning" in text:
        return midnight, now
    if "last week" in text or "past week" in text:
        return monday - timedelta(days=7), monday
    if "this week" in text:
        return monday, now
    return None


def topic_words(question: str, devices: Iterable[str] = ()) -> list[str]:
    """The words of a question that name a subject, besides the time and the devices."""
    device_words = {w for device in devices for w in words(device.replace("-", " "))}
    return [w for w in words(question) if w not in _NOT_TOPICS and w not in device_words]


def devices_named(question: str, devices: Iterable[str]) -> list[str]:
    """The devices a question names, by a word of their name ("the Jetson": jetson-orin)."""
    asked = set(words(question))
    return sorted(
        device
        for device in devices
        if any(w in asked and w not in _NOT_TOPICS for w in words(device.replace("-", " ")))
    )


def digest(memories: Sequence[MemoryRecord]) -> str:
    """The memories, newest first, under a heading per device and session."""
    lines: list[str] = []
    heading = None
    for memory in sorted(memories, key=lambda m: m.created_at, reverse=True):
        where = (memory.device or "an unknown device", memory.session or "no session")
        if where != heading:
            heading = where
            lines.append(f"On {where[0]}, session {where[1]}:")
        lines.append(f"- {memory.created_at:%Y-%m-%d %H:%M} {_said(memory)}")
    return "\n".join(lines)


def _said(memory: MemoryRecord) -> str:
    if memory.kind == "exchange" and memory.user_input:
        return f"asked {memory.user_input!r}, answered {memory.ai_response!r}"
    return memory.content
