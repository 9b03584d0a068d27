"""What a model is asked about the facts of a message, and how its JSON answer is read.

As mem0 does: the model is shown the facts already known that the message may touch, each
under a short label (K1, K2, ...), and the message. It answers with the facts the message
states, each with an event: "add" (nothing known is about it), "supersede" (it corrects or
updates known fact K<n>) or "ignore" (known already, or not worth keeping). The labels keep
real ids out of the prompt and let nothing but a shown fact be named.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from cloudbrain.memory.facts import Event, Fact, Judged, StoredFact, is_knowledge, normalize_key

MAX_MODEL_FACTS = 5
MAX_FACT_CHARS = 500
MAX_VALUE_CHARS = 200
FACTS_PROMPT = (
    "You keep the long-term memory of an AI agent. You are shown the facts it already knows, "
    "each with an id (K1, K2, ...), and a message it was just sent. List the durable facts "
    "the message states: about the user, their work, their preferences, their systems and "
    "settings, or what a term means. Leave out opinions, small talk, questions and anything "
    'uncertain. Decide each fact against the known facts: "add" when nothing known is about '
    'the same thing; "supersede" when it corrects or updates a known fact (give that fact\'s '
    'id as "known"); "ignore" when a known fact already says it (give its id) or it is not '
    "worth keeping. Answer with JSON only, in this shape: "
    '{"facts": [{"subject": "vpn port", "value": "443", "fact": "The VPN port is 443.", '
    '"event": "supersede", "known": "K1"}]}. The subject names the slot the fact fills, so '
    "that a later fact with the same subject replaces it: for a fact about the same thing as a "
    "known fact, or as one the rules found in the message (listed too), use its subject. No "
    'facts: {"facts": []}.'
)
_EVENTS: dict[str, Event] = {
    "add": "add",
    "new": "add",
    "create": "add",
    "supersede": "supersede",
    "update": "supersede",
    "replace": "supersede",
    "correct": "supersede",
    "delete": "supersede",
    "ignore": "ignore",
    "none": "ignore",
    "noop": "ignore",
    "keep": "ignore",
    "skip": "ignore",
    "duplicate": "ignore",
}
_LABEL = re.compile(r"^\s*\[?k?\s*(\d+)\]?\s*$", re.IGNORECASE)


def labelled(known: Sequence[StoredFact]) -> dict[str, StoredFact]:
    """The known facts under the labels the model sees: K1, K2, ..."""
    return {f"K{n}": fact for n, fact in enumerate(known, start=1)}


def facts_request(message: str, labels: dict[str, StoredFact], found: Sequence[Fact] = ()) -> str:
    """The user turn of the request: the known facts, what the rules found in the message
    (when they found anything: their subjects are the slots a later correction by rule will
    fill), then the message."""
    listed = "\n".join(
        f"{label}: {fact.text or fact.value} (subject: {fact.key})"
        for label, fact in labels.items()
    )
    parts = [f"Known facts:\n{listed or '(none)'}"]
    if found:
        ruled = "\n".join(f"- {fact.text} (subject: {fact.key})" for fact in found)
        parts.append(f"Found by rules in the message:\n{ruled}")
    return "\n\n".join([*parts, f"Message:\n{message}"])


def parse_judged(text: str, labels: dict[str, StoredFact]) -> list[Judged] | None:
    """The model's verdicts, read defensively: None when the answer is not JSON of the asked
    shape (the rules decide then); otherwise each well-formed item, malformed ones dropped.
    An item that names a known fact by a label it was not shown loses that name: "supersede"
    then falls back to the slot its subject names."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    items = data.get("facts") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return None
    judged = [j for item in items if isinstance(item, dict) and (j := _item(item, labels))]
    return judged[:MAX_MODEL_FACTS]


def _item(item: dict[str, Any], labels: dict[str, StoredFact]) -> Judged | None:
    event = _EVENTS.get(str(item.get("event") or "add").strip().lower(), "add")
    known = _known(item.get("known", item.get("id", item.get("replaces"))), labels)
    subject, value, sentence = item.get("subject"), item.get("value"), item.get("fact")
    if not all(isinstance(x, str) and x.strip() for x in (subject, value, sentence)):
        if event == "ignore" and known is not None:  # "K2 says it already": nothing more needed
            return Judged(Fact(known.key, known.text, known.value, "ai"), "ignore", known.id)
        return None
    assert isinstance(subject, str) and isinstance(value, str) and isinstance(sentence, str)
    key = normalize_key(subject)
    if not key or not is_knowledge(sentence):
        return None
    fact = Fact(key, sentence.strip()[:MAX_FACT_CHARS], value.strip()[:MAX_VALUE_CHARS], "ai")
    if event == "supersede" and known is None:
        event = "add"  # names nothing it was shown: decided by its slot, like any new fact
    return Judged(fact, event, known.id if known is not None else None)


def _known(said: object, labels: dict[str, StoredFact]) -> StoredFact | None:
    """The known fact a label names: "K2", "k2", "[K2]" or just 2."""
    if isinstance(said, bool) or not isinstance(said, str | int):
        return None
    match = _LABEL.match(str(said))
    return labels.get(f"K{int(match[1])}") if match else None
