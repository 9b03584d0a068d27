"""A model's verdict on the facts of a message, the way mem0 has one: each fact it finds is to
be added, to supersede a known fact, or to be ignored, judged against what is already known.
The rules remain the fallback: they decide alone when the model gave no usable verdict, and
they decide the slots the model left alone."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from cloudbrain.memory.facts.decisions import (
    Decision,
    Ignore,
    Repeat,
    StoredFact,
    Supersede,
    current_with_key,
    decide,
)
from cloudbrain.memory.facts.fact import Fact
from cloudbrain.memory.facts.keys import normalize_key

Event = Literal["add", "supersede", "ignore"]


@dataclass(frozen=True)
class Judged:
    """A fact with the model's verdict. ``known``: the id of the known fact it supersedes, or
    (with "ignore") the known fact that already says it."""

    fact: Fact
    event: Event = "add"
    known: str | None = None


def choose(
    rules: Sequence[Fact], judged: Sequence[Judged] | None, known: Iterable[StoredFact]
) -> list[Fact | Judged]:
    """What to decide on: the model's verdicts first, then the rules' facts in slots that no
    verdict touched (by its own key or by the key of the known fact it names). ``judged`` is
    None when the model gave no usable verdict (it is away, failed, or wrote no JSON): then
    the rules' facts alone."""
    if judged is None:
        return list(rules)
    keys = {f.id: normalize_key(f.key) for f in known}
    touched = {normalize_key(j.fact.key) for j in judged}
    touched |= {keys[j.known] for j in judged if j.known in keys}
    return [*judged, *(f for f in rules if normalize_key(f.key) not in touched)]


def judge(item: Fact | Judged, existing: Iterable[StoredFact]) -> Decision:
    """The decision on one fact given the facts known now (its slot's current facts, and the
    known fact a verdict names). A rules' fact, or a verdict "add", is decided by its key as
    ``decide`` does, so a slot never holds two current values. "supersede" replaces the fact
    it names, in whatever slot (the model sees that "the VPN runs on 443 now" updates "the VPN
    port is 1194"), unless that fact says the same or is no longer current."""
    if isinstance(item, Fact):
        return decide(item, existing)
    existing = list(existing)
    if item.event == "ignore":
        return Ignore("the model found it known or not worth keeping")
    target = next((f for f in existing if f.id == item.known and f.superseded_by is None), None)
    if item.event == "supersede" and target is not None:
        if _same(target, item.fact):
            return Repeat(target.id)
        others = [f.id for f in current_with_key(item.fact.key, existing) if f.id != target.id]
        return Supersede(target.id, tuple(others))
    return decide(item.fact, existing)


def _same(known: StoredFact, fact: Fact) -> bool:
    return normalize_key(known.value) == normalize_key(fact.value) or (
        bool(known.text) and normalize_key(known.text) == normalize_key(fact.text)
    )
