"""What must never be remembered as knowledge, however it was phrased."""

from __future__ import annotations

import re

from cloudbrain.memory.facts.sentences import clean

_FAILURE_START = re.compile(r"^\s*(?:error|exception|fatal)\s*:", re.IGNORECASE)
_FAILURE_ANYWHERE = re.compile(
    r"traceback \(most recent call last\)"
    r"|\btimed out\b"
    r"|\bconnection (?:refused|reset|error)\b"
    r"|\bi (?:don't|do not) know\b"
    r"|\bmodel\b[^\n]{0,80}?\bnot found\b",
    re.IGNORECASE,
)


def is_knowledge(text: str) -> bool:
    """False for what must never be remembered as knowledge: error messages, timeouts, stack
    traces, a model that could not be reached, and an AI admitting it does not know. Stored,
    they would be recalled later as if they were answers. Blank text is not knowledge either."""
    text = clean(text)
    if not text.strip():
        return False
    return not (_FAILURE_START.search(text) or _FAILURE_ANYWHERE.search(text))
