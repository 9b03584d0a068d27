"""The words that mark a sentence as a correction: "Actually, ...", "Correction: ...", "...,
actually", "... now", and a marker said alone before the sentence it is about ("Oops.")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Strength = Literal["", "weak", "strong"]

# Markers that say the speaker corrects something, whatever follows; a space after them is
# enough ("correction the port is 443").
_STRONG_FREE = (
    r"(?:a\s+|one\s+|small\s+|quick\s+|minor\s+|slight\s+)?correction"
    r"(?:\s+to\s+(?:that|this|my\s+last\s+message|what\s+i\s+said|the\s+above))?"
    r"|to\s+correct\s+(?:myself|that|this|what\s+i\s+said|my\s+last\s+message)"
    r"|let\s+me\s+correct\s+(?:myself|that|this)|i\s+stand\s+corrected"
    r"|i\s+meant\s+to\s+say|what\s+i\s+meant\s+(?:was|is)|or\s+rather|erratum"
)
# The same, but they need punctuation after them: with a space they open ordinary sentences
# ("update the docs", "my mistake was ...").
_STRONG_PUNCT = (
    r"(?:quick\s+|an\s+)?update|scratch\s+that|my\s+(?:mistake|bad|error)|i\s+was\s+wrong"
    r"|i\s+misspoke|change\s+of\s+plans?|i\s+meant|rather"
)
# Markers that open corrections as often as chatter: what follows them is kept only as a
# correction of something already known.
_WEAK_FREE = (
    r"actually|in\s+fact|as\s+it\s+turns\s+out|(?:it\s+)?turns\s+out(?:\s+that)?"
    r"|i\s+mean|to\s+be\s+(?:precise|exact)"
)
_WEAK_PUNCT = r"sorry|oops|whoops|wait|no|nope|nah"
# Openers that say nothing either way; skipped so that a marker after them is found
# ("Oh, and actually, ...").
_NEUTRAL = (
    r"oh\s+and|and|also|so|well|ok|okay|hey|hi|hello|yes|yeah|hmm|oh|ah|btw|by\s+the\s+way"
    r"|fyi|heads\s+up|just\s+so\s+you\s+know"
)

_PUNCT = r"\s*(?:[,:;!.]+|\s[-\u2013\u2014]|[\u2013\u2014])\s*"
_LEADING = re.compile(
    rf"^(?:(?P<strong>{_STRONG_FREE})(?:{_PUNCT}|\s+)|(?P<strong_p>{_STRONG_PUNCT}){_PUNCT}"
    rf"|(?P<weak>{_WEAK_FREE})(?:{_PUNCT}|\s+)|(?P<weak_p>{_WEAK_PUNCT}){_PUNCT}"
    rf"|(?:{_NEUTRAL})(?:{_PUNCT}|\s+))",
    re.IGNORECASE,
)
# At the end: a marker ("..., actually") or a word that says the value changed ("... now",
# "... from now on").
_END_WEAK = r"actually|in\s+fact"
_END_CHANGE = (
    r"now|instead|from\s+now\s+on|going\s+forward|as\s+of\s+(?:now|today|this\s+\w+|\w+day)"
    r"|starting\s+(?:now|today|tomorrow|\w+day)|these\s+days|nowadays|effective\s+immediately"
)
_TRAILING = re.compile(rf"(?:\s*,?\s*\b(?:{_END_WEAK}|{_END_CHANGE}))+$", re.IGNORECASE)
_CHANGE_WORD = re.compile(rf"\b(?:{_END_CHANGE})\b", re.IGNORECASE)
_WEAK_WORD = re.compile(rf"\b(?:{_END_WEAK})\b", re.IGNORECASE)
_ALONE = re.compile(
    rf"^(?:(?P<strong>{_STRONG_FREE}|{_STRONG_PUNCT})|{_WEAK_FREE}|{_WEAK_PUNCT})"
    r"[\s,:;!.\-\u2013\u2014]*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Marked:
    """A sentence without its correction markers: ``strength`` of the strongest marker found,
    and whether a word at its end ("now", "from now on") says that a value changed."""

    text: str
    strength: Strength = ""
    changed: bool = False


def unmark(text: str, before: Strength = "") -> Marked:
    """``text`` without the markers at its start and its end. ``before``: a marker said alone
    just before this sentence ("Correction. The port is 443."). Spaces come back single."""
    text = " ".join(text.split())
    strength = before
    while match := _LEADING.match(text):
        if match["strong"] or match["strong_p"]:
            strength = "strong"
        elif (match["weak"] or match["weak_p"]) and strength != "strong":
            strength = "weak"
        text = text[match.end() :]
    changed = False
    trailing = _TRAILING.search(text)
    if trailing and trailing.start() > 0:
        changed = bool(_CHANGE_WORD.search(trailing[0]))
        if _WEAK_WORD.search(trailing[0]) and strength != "strong":
            strength = "weak"
        text = text[: trailing.start()]
    return Marked(text.strip(" ,;:"), strength, changed)


def marker_alone(text: str) -> Strength:
    """The strength of a sentence that is only a marker ("Correction:", "Oops!"), else ""."""
    match = _ALONE.match(text.strip())
    if not match:
        return ""
    return "strong" if match["strong"] else "weak"
