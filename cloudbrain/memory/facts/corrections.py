"""Corrections as facts: a change read by :mod:`changes` becomes a fact in the slot its subject
names, so that it supersedes what that slot held.

"The VPN port moved from 1194 to 443" fills the slot a note on the VPN port fills ("note vpn
port"), as "the VPN port is 443", with 1194 kept as ``was``. "My favourite editor changed to
Helix" and "I moved from Berlin to Lisbon" are the user's own facts, found by the personal
rules in the sentence they amount to ("my favourite editor is Helix", "I moved to Lisbon").
"I no longer use Vim" retracts "the user uses Vim"."""

from __future__ import annotations

import re

from cloudbrain.memory.facts.changes import Reading, read_change
from cloudbrain.memory.facts.fact import Change, Fact
from cloudbrain.memory.facts.markers import Marked
from cloudbrain.memory.facts.notes import note_in, note_key
from cloudbrain.memory.facts.personal import PERSONAL
from cloudbrain.memory.facts.sentences import Sentence, bare_word, clauses, word_set

# A subject that points elsewhere or is a filler is no slot of its own.
NOT_A_SUBJECT = word_set(
    "it its this that these those there here he she they we you i me us them what which who "
    "whom whose where when why how one each every some any all no none nothing something "
    "everything anything everyone someone anyone nobody everybody somebody anybody today "
    "tomorrow yesterday tonight now then mine yours ours theirs hers both either neither such "
    "another other life thing things stuff time maybe perhaps also so well yes not if because "
    "but and or while although though still just thanks thank please hello hi hey ok okay "
    "sure sorry whatever whoever"
)
# Words that give away a clause rather than a subject anywhere in it.
NOT_IN_SUBJECT = word_set(
    "is are was were be been being am do does did has have had will would can could should "
    "might must may shall think thought said says say guess believe know knew remember forget "
    "told tell i you we it he she they me us them if because that this not never always "
    "really also still just actually maybe probably"
)
MAX_SUBJECT_WORDS = 6
_CAPITALIZED_FIRST = re.compile(r"^(?:The|A|An|Our|My|Your|Their|This|These|Those|We|They)\b")

_I_STOPPED = re.compile(
    r"^i\s+(?:(?:have|'ve)\s+)?(?:no\s+longer|stopped|quit|gave\s+up)\s+(?P<verb>[a-z]+)\s+"
    r"(?P<rest>.+)$",
    re.IGNORECASE,
)
_I_NOT_ANY_MORE = re.compile(
    r"^i\s+(?:don't|do\s+not|dont)\s+(?P<verb>[a-z]+)\s+(?P<rest>.+?)\s+any\s?more$",
    re.IGNORECASE,
)
_I_AM_NO_LONGER = re.compile(
    r"^i(?:'m|\s+am)\s+(?:no\s+longer\s+(?P<rest>.+)|not\s+(?P<then>.+?)\s+any\s?more)$",
    re.IGNORECASE,
)
_BASE_FORM = {
    "using": "use",
    "living": "live",
    "residing": "reside",
    "working": "work",
    "liking": "like",
    "loving": "love",
    "enjoying": "enjoy",
    "preferring": "prefer",
}
_MOVED = {"moved", "relocated"}
_SWITCHED = {"switched", "migrated", "changed"}


def corrections_in(marked: Marked, question: bool = False) -> list[Fact]:
    """The facts a sentence states as a change or a correction, [] when it states none.
    ``marked``: the sentence without its correction markers, and how strongly it was marked."""
    if question:
        return []
    text, asked = marked.text, False
    note = note_in(Sentence(text, question=False))
    if note:  # "remember that the port moved to 443": asked to keep, so never just an amend
        text, asked = note[1], True
    reading = read_change(text, marked=bool(marked.strength or marked.changed) and not asked)
    if reading is None:
        return _no_longer_mine(text)
    change = reading.change
    if change == "amend" and (asked or marked.strength == "strong"):
        change = "state"
    return _mine(reading, change) or _noted(reading, change)


def _mine(reading: Reading, change: Change) -> list[Fact]:
    """The user's own facts in a change they state about themselves."""
    first = bare_word(reading.subject.split()[0]) if reading.subject else ""
    if first == "i":
        if reading.verb in _MOVED:
            return _as(_said(f"I moved to {reading.new}"), "state", reading.was)
        if reading.verb in _SWITCHED:
            facts = _as(_said(f"I use {reading.new}"), "state", "")
            if facts and reading.was:
                facts = _retracted(_said(f"I use {reading.was}")) + facts
            return facts
        return []
    if first != "my":
        return []
    if change == "retract":
        return _retracted(_said(f"{reading.subject} {reading.copula} {reading.was}"))
    # Said about the user, a correction is as good as a statement: the personal rules would
    # keep "my favourite editor is Helix" however it was introduced.
    return _as(_said(f"{reading.subject} {reading.copula} {reading.new}"), "state", reading.was)


def _noted(reading: Reading, change: Change) -> list[Fact]:
    """A change of anything else, in the slot a note on its subject fills."""
    subject = reading.subject
    words = [bare_word(w) for w in subject.split()]
    if (
        not words
        or len(words) > MAX_SUBJECT_WORDS
        or words[0] in NOT_A_SUBJECT
        or any(w in NOT_IN_SUBJECT or not w for w in words)
    ):
        return []
    key = note_key(subject)
    if not key:
        return []
    said = _lower_determiner(reading.said)
    subject = _lower_determiner(subject)
    if change == "retract":
        value = f"{subject} {reading.copula} no longer {reading.was}"
    else:
        value = f"{subject} {reading.copula} {reading.new}"
    return [Fact(key, f"Remember: {said}.", value, "user", change, reading.was)]


def _no_longer_mine(text: str) -> list[Fact]:
    """The user's retractions, "I no longer live in Berlin", "I stopped using Vim", "I don't like tea any more":
    each retracts the fact the sentence without its negation would state."""
    facts = []
    for clause in clauses(Sentence(text, question=False)):
        stopped = _I_STOPPED.match(clause) or _I_NOT_ANY_MORE.match(clause)
        if stopped:
            verb = stopped["verb"].lower()
            facts += _retracted(_said(f"I {_BASE_FORM.get(verb, verb)} {stopped['rest']}"))
        elif am := _I_AM_NO_LONGER.match(clause):
            facts += _retracted(_said(f"I'm {am['rest'] or am['then']}"))
    return facts


def _said(statement: str) -> list[Fact]:
    """What the personal rules find in ``statement``."""
    sentence = Sentence(statement, question=False)
    return [fact for clause in clauses(sentence) for rule in PERSONAL if (fact := rule(clause))]


def _as(facts: list[Fact], change: Change, was: str) -> list[Fact]:
    return [Fact(f.key, f.text, f.value, f.source, change, was) for f in facts]


def _retracted(facts: list[Fact]) -> list[Fact]:
    """Each fact turned into its retraction: "The user uses Vim." -> "The user no longer uses
    Vim.", filling the same slot and retracting its value."""
    found = []
    for fact in facts:
        text = _negated(fact.text)
        if text:
            found.append(
                Fact(fact.key, text, f"no longer {fact.value}", fact.source, "retract", fact.value)
            )
    return found


def _negated(text: str) -> str | None:
    possessive = re.match(r"^(The user's .+?) (is|are) (.+)$", text)
    if possessive:
        return f"{possessive[1]} {possessive[2]} no longer {possessive[3]}"
    if text.startswith("The user "):
        return "The user no longer " + text.removeprefix("The user ")
    return None


def _lower_determiner(text: str) -> str:
    """A subject as it reads after "Remember:", "The VPN port" -> "the VPN port" (a capital that only
    opened the sentence)."""
    return text[0].lower() + text[1:] if _CAPITALIZED_FIRST.match(text) else text
