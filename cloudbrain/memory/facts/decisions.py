"""What to do with a fact given those already known: count it again, supersede one, store it
as new, or ignore it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cloudbrain.memory.facts.fact import Fact
from cloudbrain.memory.facts.keys import normalize_key


@dataclass(frozen=True)
class StoredFact:
    """What ``decide`` needs to know of a fact already in memory (a ``MemoryRecord`` of kind
    fact: its id, ``fact_key``, value, ``count`` and ``superseded_by``; its text for a model
    to read)."""

    id: str
    key: str
    value: str
    count: int = 1
    superseded_by: str | None = None
    text: str = ""


@dataclass(frozen=True)
class Repeat:
    """The fact is already known: count it again on ``id`` instead of storing a copy."""

    id: str


@dataclass(frozen=True)
class Supersede:
    """The fact replaces ``old_id``: store the new one, then set the old one's
    ``superseded_by`` to the new id. ``also`` lists further current facts with the same key,
    which should not exist but can (two writers at once); they are replaced too, so that a key
    never keeps two current values."""

    old_id: str
    also: tuple[str, ...] = ()


@dataclass(frozen=True)
class New:
    """Nothing current has this key: store the fact."""


@dataclass(frozen=True)
class Ignore:
    """Keep nothing: ``why`` says why (a correction of nothing known, a model's verdict)."""

    why: str = ""


Decision = Repeat | Supersede | New | Ignore


def decide(new: Fact, existing: Iterable[StoredFact]) -> Decision:
    """What to do with ``new`` given the facts already stored (any keys; others are ignored).

    Only current facts count: a superseded fact is history, and repeating an old value brings
    it back as a new fact that supersedes the current one. Values are compared ignoring case,
    accents and punctuation, so "Helix" and "helix." are the same value. Additive preferences
    carry their object in the key, so for them a same key always means a repeat. A correction
    ("amend") is kept only over a fact its key holds; a retraction only over a fact that says
    what it retracts.
    """
    current = current_with_key(new.key, existing)
    if new.change == "retract":
        wrong = [f for f in current if mentions(f.value, new.was)]
        if not wrong:
            return Ignore(f"nothing known says {new.was!r}")
        return Supersede(wrong[0].id, tuple(f.id for f in wrong[1:]))
    value = normalize_key(new.value)
    for fact in current:
        if normalize_key(fact.value) == value:
            return Repeat(fact.id)
    if current:
        return Supersede(current[0].id, tuple(f.id for f in current[1:]))
    if new.change == "amend":
        return Ignore(f"a correction of nothing known about {new.key!r}")
    return New()


def current_with_key(key: str, existing: Iterable[StoredFact]) -> list[StoredFact]:
    """The facts of ``existing`` that fill ``key`` and no newer fact has replaced."""
    key = normalize_key(key)
    return [f for f in existing if f.superseded_by is None and normalize_key(f.key) == key]


def mentions(value: str, part: str) -> bool:
    """Whether ``value`` says ``part``, word for word ("the VPN port is 1194" says "1194",
    not "119")."""
    part = normalize_key(part)
    return bool(part) and f" {part} " in f" {normalize_key(value)} "
