"""The facts one exchange states, found by every rule in turn."""

from __future__ import annotations

from collections.abc import Iterator

from cloudbrain.memory.facts.corrections import corrections_in
from cloudbrain.memory.facts.definitions import definition_in
from cloudbrain.memory.facts.fact import Fact
from cloudbrain.memory.facts.keys import normalize_key
from cloudbrain.memory.facts.knowledge import is_knowledge
from cloudbrain.memory.facts.markers import Strength, marker_alone, unmark
from cloudbrain.memory.facts.notes import NOTE_KEY_PREFIX, note_in
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


def states_anything(text: str) -> bool:
    """Whether ``text`` has a sentence that is not a question: only such a message can teach
    anything, so only then is it worth asking a model for its facts."""
    return any(not sentence.question for sentence in split_sentences(clean(text)))


def asks_anything(text: str) -> bool:
    """Whether ``text`` has a question in it, to be answered beside what it teaches."""
    return any(sentence.question for sentence in split_sentences(clean(text)))


def _from_user(text: str) -> Iterator[Fact]:
    """Per sentence: what it says changed ("actually, the port moved from 1194 to 443"), then
    the facts it states as said, read with and without its correction markers. A stated fact
    in the slot of a change is the change said again in other words ("my editor is Helix
    instead of Vim" is no favourite "Helix instead of Vim"), so it is left out; after a
    retraction it is the new value ("I no longer live in Berlin, I live in Lisbon"). A marker
    said alone ("Correction:") marks the sentence after it."""
    before: Strength = ""
    for sentence in split_sentences(text):
        if not sentence.question and (alone := marker_alone(sentence.text)):
            before = alone
            continue
        marked = unmark(sentence.text, before)
        before = ""
        changed = corrections_in(marked, sentence.question)
        taken = {f.key for f in changed if f.change != "retract"}
        stated = list(_stated(sentence))
        if marked.text != sentence.text:
            stated += _stated(Sentence(marked.text, sentence.question))
        if changed:  # a note that states a change is kept as that change alone
            stated = [f for f in stated if not f.key.startswith(NOTE_KEY_PREFIX)]
        yield from changed
        yield from (f for f in stated if f.key not in taken)


def _stated(sentence: Sentence) -> Iterator[Fact]:
    """A note, or else a definition, and the user's facts about themselves. A note whose
    words state such a fact ("remember that my name is Ada") is stored as that fact alone,
    which has a proper slot, rather than twice."""
    note = note_in(sentence)
    if note:
        personal = _personal(Sentence(note[1], question=False))
        yield from personal or [note[0]]
        return
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
