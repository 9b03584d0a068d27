"""The facts one exchange states, found by every rule in turn."""

from __future__ import annotations

from collections.abc import Iterator

from cloudbrain.memory.facts.definitions import definition_in
from cloudbrain.memory.facts.fact import Fact
from cloudbrain.memory.facts.keys import normalize_key
from cloudbrain.memory.facts.knowledge import is_knowledge
from cloudbrain.memory.facts.notes import note_in
from cloudbrain.memory.facts.personal import PERSONAL
from cloudbrain.memory.facts.sentences import Sentence, clauses, clean, split_sentences


def extract_facts(user_input: str, ai_response: str = "") -> list[Fact]:
    """The facts one exchange states, the user's first, each key and value at most once.

    The user's message gives facts about the user, notes to keep and definitions. The AI's
    answer gives definitions only: its "I" is the AI, and its "note that" is a figure of
    speech, not a request. An answer that is an error, a timeout or an "I don't know" gives
    nothing (see ``is_knowledge``), while the question beside it still does.
    """
    found = list(_from_user(clean(user_input)))
    if is_knowledge(ai_response):
        found += [
            fact
            for sentence in split_sentences(clean(ai_response))
            if (fact := definition_in(sentence, "ai"))
        ]
    return _unique(found)


def _from_user(text: str) -> Iterator[Fact]:
    """Per sentence: a note, or else a definition, and the user's facts about themselves. A
    note whose words state such a fact ("remember that my name is Ada") is stored as that
    fact alone, which has a proper slot, rather than twice."""
    for sentence in split_sentences(text):
        note = note_in(sentence)
        if note:
            personal = _personal(Sentence(note[1], question=False))
            yield from personal or [note[0]]
            continue
        if definition := definition_in(sentence, "user"):
            yield definition
        yield from _personal(sentence)


def _personal(sentence: Sentence) -> list[Fact]:
    """What the user says about themselves, clause by clause."""
    return [
        fact for clause in clauses(sentence) for pattern in PERSONAL if (fact := pattern(clause))
    ]


def _unique(facts: list[Fact]) -> list[Fact]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for fact in facts:
        if fact.key and fact.text and (fact.key, normalize_key(fact.value)) not in seen:
            seen.add((fact.key, normalize_key(fact.value)))
            unique.append(fact)
    return unique
