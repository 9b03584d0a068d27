"""What to do with a fact already known: count it again, supersede it, or store it as new."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cloudbrain.memory.facts.fact import Fact
from cloudbrain.memory.facts.keys import normalize_key


@dataclass(frozen=True)
class StoredFact:
    """What ``decide`` needs to know of a fact already in memory (a ``MemoryRecord`` of kind
    fact: its id, ``fact_key``, value, ``count`` and ``superseded_by``)."""

    id: str
    key: str
    value: str
    count: int = 1
    superseded_by: str | None = None


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


Decision = Repeat | Supersede | New


def decide(new: Fact, existing: Iterable[StoredFact]) -> Decision:
    """What to do with ``new`` given the facts already stored (any keys; others are ignored).

    Only current facts count: a superseded fact is history, and repeating an old value brings
    it back as a new fact that supersedes the current one. Values are compared ignoring case,
    accents and punctuation, so "Helix" and "helix." are the same value. Additive preferences
    carry their object in the key, so for them a same key always means a repeat.
    """
    key = normalize_key(new.key)
    current = [f for f in existing if f.superseded_by is None and normalize_key(f.key) == key]
    value = normalize_key(new.value)
    for fact in current:
        if normalize_key(fact.value) == value:
            return Repeat(fact.id)
    if current:
        return Supersede(current[0].id, tuple(f.id for f in current[1:]))
    return New()
