"""Notes the user asks to keep: "remember that ...", filed under what they are about."""

from __future__ import annotations

import re

from cloudbrain.memory.facts.fact import Fact
from cloudbrain.memory.facts.keys import fold, normalize_key
from cloudbrain.memory.facts.sentences import (
    FILLER,
    QUESTION_WORDS,
    Sentence,
    bare_word,
    word_set,
    words_of,
)

_NOTE = re.compile(
    rf"^{FILLER}(?:please\s+)?(?:(?:also\s+)?(?:remember|note(?:\s+to\s+self)?|keep\s+in\s+mind"
    r"|don't\s+forget|do\s+not\s+forget|never\s+forget|make\s+a\s+note(?:\s+of)?|take\s+note"
    r"(?:\s+of)?|for\s+the\s+record))\b(?:\s+(?:that|this))?\s*[:,\-\u2013\u2014]?\s*(?P<rest>.+)$",
    re.IGNORECASE,
)
NOTE_SKIP = word_set(
    "the a an that this these those my our your their his her its to of in on at for and "
    "or with we i you they he she it be by from as all me us them please also always "
    "never"
)
NOTE_VERBS = word_set(
    "is are was were will be been has have had should must can could would shall may "
    "might does do did need needs isnt arent wont doesnt cant"
)
# Words that say a value changed ("the VPN port moved to 443", "... now is 443"): the subject
# ends before them, so a note and a correction on one subject fill one slot.
NOTE_CHANGES = word_set(
    "moved changed switched updated migrated shifted bumped upgraded downgraded increased "
    "decreased raised lowered reduced renamed rescheduled relocated now"
)
NOTE_PREPOSITIONS = word_set(
    "on at in to for from with by into onto until since before after during about"
)
NOTE_KEY_WORDS = 3
NOTE_KEY_PREFIX = "note "


def note_in(sentence: Sentence) -> tuple[Fact, str] | None:
    """A note: "Remember that the deploy window is Friday 10:00" keeps the rest of the
    sentence as said, under "note" and its first content words up to the verb ("note deploy
    window"), so that a later note on the same subject supersedes it. The rest is returned
    too, for the other patterns to read ("please remember I like tea")."""
    match = _NOTE.match(sentence.text)
    if sentence.question or not match:
        return None
    rest = match["rest"].strip().rstrip(" .,;:!")
    words = words_of(rest)
    if len(words) < 2 or bare_word(words[0]) in QUESTION_WORDS - {"do", "is", "are"}:
        return None
    key = note_key(rest)
    if not key:
        return None
    text = f"Remember {rest}." if bare_word(words[0]) == "to" else f"Remember: {rest}."
    return Fact(key, text, rest, "user"), rest


def note_key(rest: str) -> str | None:
    """The note's subject: its first content words, at most three, before the first verb or,
    once a word is in, the first preposition ("the café opens at 9" -> "cafe opens"). Numbers
    are left out: they are what changes, not what the note is about."""
    tokens = re.findall(r"[\w+#']+", fold(rest))
    subject: list[str] = []
    for token in tokens:
        base, _, contraction = token.partition("'")
        if base in NOTE_VERBS or token.replace("'", "") in NOTE_VERBS or base in NOTE_CHANGES:
            break
        if subject and base in NOTE_PREPOSITIONS:
            break
        if base and base not in NOTE_SKIP and not base.isdigit():
            subject.append(base)
        if contraction or len(subject) == NOTE_KEY_WORDS:
            break
    if not subject:  # "remember that I'm vegetarian": the subject is the user; use the rest
        plain = [t.replace("'", "") for t in tokens]
        skip = NOTE_SKIP | NOTE_VERBS | {"im"}
        subject = [t for t in plain if t not in skip and not t.isdigit()]
        subject = subject[:NOTE_KEY_WORDS]
    key = normalize_key(" ".join(subject))
    return f"{NOTE_KEY_PREFIX}{key}" if key else None
