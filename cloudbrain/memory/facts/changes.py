"""How people say that something changed: "the VPN port moved from 1194 to 443", "... changed
to 443", "we moved the standup to Tuesday", "... is now 443", "... is 443, not 1194", "...
isn't 1194, it's 443", "... is no longer 1194". Read into a subject, a new value and the old
one; what becomes of it is :mod:`corrections`' business."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cloudbrain.memory.facts.fact import Change
from cloudbrain.memory.facts.sentences import word_set
from cloudbrain.memory.facts.values import trim_value

# Patterns read text whose spaces are single (see ``read_change``); subjects and auxiliaries
# are bounded in words, so that no sentence makes them backtrack for long.
_WORD = r"[^\s,;:()\"]+"
_SUBJECT = rf"(?P<subject>{_WORD}(?:\s{_WORD}){{0,5}}?)"
# What may stand between a subject and its verb: "has been", "was just", "'s now", ...
_AUX = (
    r"(?:(?:has|have|had|was|were|is|are|got|gets|been|being|just|recently|now|actually"
    r"|finally|officially|already|also|all|since)\s+){0,4}"
)
_VERBS = (
    r"moved|changed|switched|updated|migrated|shifted|bumped|upgraded|downgraded|increased"
    r"|decreased|raised|lowered|reduced|renamed|rescheduled|relocated|reset|set|postponed"
    r"|pushed(?:\s+back)?|extended|converted|swapped|cut|dropped"
)
_FROM_ONLY = r"went|gone|jumped|grew|fell"  # "went to lunch" is no change; "went from" is
_TO = r"(?:to|into|over\s+to)"
_FROM_TO = re.compile(
    rf"^{_SUBJECT}\s+{_AUX}(?P<verb>{_VERBS}|{_FROM_ONLY})\s+"
    rf"(?P<from>(?:over\s+|back\s+)?from\s+(?P<old>.+?)\s+){_TO}\s+(?P<new>.+)$",
    re.IGNORECASE,
)
_TO_FROM = re.compile(
    rf"^{_SUBJECT}\s+{_AUX}(?P<verb>{_VERBS}|{_FROM_ONLY})\s+(?:over\s+|back\s+)?{_TO}\s+"
    r"(?P<new>.+?)(?P<from>\s+(?:from|instead\s+of)\s+(?P<old>.+))$",
    re.IGNORECASE,
)
_TO_ONLY = re.compile(
    rf"^{_SUBJECT}\s+{_AUX}(?P<verb>{_VERBS})\s+(?:over\s+|back\s+)?{_TO}\s+(?P<new>.+)$",
    re.IGNORECASE,
)
# "We moved the standup (from Monday) to Tuesday", "I changed my favourite editor to Helix".
_ACTIVE = re.compile(
    r"^(?:we|i|they|you|someone|somebody|ops|it|admins?|the\s+(?:\w+\s+)?(?:team|admins?|ops))"
    rf"\s+{_AUX}(?P<verb>{_VERBS})\s+"
    rf"(?P<subject>(?:the|our|my|your|their|its)(?:\s{_WORD}){{1,5}}?)\s+"
    rf"(?P<from>(?:over\s+|back\s+)?from\s+(?P<old>.+?)\s+)?{_TO}\s+(?P<new>.+)$",
    re.IGNORECASE,
)
_IS = r"(?:\s+(?P<cop>is|are)|(?P<short>'s|'re))"
_IS_NOT = (
    r"(?:\s+(?P<cop>is|are)\s+not|\s+(?P<neg>isn't|aren't|isnt|arent)|(?P<short>'s|'re)\s+not)"
)
# What introduces the new value after the old one: ", it's 443", "- now 443", "but 443".
_THEN = (
    r"(?:\s*[,;:\u2013\u2014]\s*|\s+-\s+|\s+)(?:(?:but|and|so)\s+)?"
    r"(?:(?:it|they|that)(?:'s|'re|\s+is|\s+are)|now)\s+(?:now\s+|actually\s+)?"
)
_NO_LONGER = re.compile(
    rf"^{_SUBJECT}{_IS}\s+no\s+longer\s+(?P<old>.+?)(?:{_THEN}(?P<new>.+))?$", re.IGNORECASE
)
_NOT_ANY_MORE = re.compile(
    rf"^{_SUBJECT}{_IS_NOT}\s+(?P<old>.+?)\s+any\s?more(?:{_THEN}(?P<new>.+))?$", re.IGNORECASE
)
_NOT_BUT = re.compile(
    rf"^{_SUBJECT}{_IS_NOT}\s+(?P<old>.+?)(?:{_THEN}|\s*,?\s+but\s+(?:now\s+)?)(?P<new>.+)$",
    re.IGNORECASE,
)
_BUT_NOT = re.compile(
    rf"^{_SUBJECT}{_IS}\s+(?:now\s+|actually\s+|really\s+)?(?P<new>.+?)"
    r"(?:\s*[,;(\u2013\u2014]\s*|\s+-\s+|\s+)(?:and\s+)?(?:not|instead\s+of|rather\s+than)\s+"
    r"(?P<old>[^()]+?)\)?$",
    re.IGNORECASE,
)
_IS_NOW = re.compile(
    rf"^{_SUBJECT}(?:\s+(?:now|currently)\s+(?P<now_cop>is|are)|{_IS}\s+(?:now|currently))"
    r"\s+(?P<new>.+)$",
    re.IGNORECASE,
)
_PLAIN = re.compile(
    rf"^{_SUBJECT}(?:{_IS}|\s+(?:will\s+be|is\s+going\s+to\s+be))\s+"
    r"(?P<inline>(?:actually|really|in\s+fact)\s+)?(?P<new>.+)$",
    re.IGNORECASE,
)
# What trails a new value without being part of it: when, why, what for.
_VALUE_END = re.compile(
    r"\s+(?:(?:last|this|next)\s+(?:week|month|year|night|time|\w+day)|yesterday|today|tonight"
    r"|recently|earlier|effective\s+immediately|as\s+of\s+\S+|from\s+now\s+on|going\s+forward"
    r"|starting\s+\S+|for\s+\S+|due\s+to|owing\s+to|thanks\s+to|(?:in\s+order\s+)?(?-i:to\s+[a-z]+))"
    r"\b.*$",
    re.IGNORECASE,
)
MAX_VALUE_WORDS = 12
MAX_CHANGE_WORDS = 40
# A value does not open with a pronoun, a negation or a verb ("the launch is set to start at
# 10" changes nothing).
NOT_A_VALUE = word_set(
    "it that this them there here not no be become start begin end go happen expire run take "
    "arrive open close launch finish continue make get have do see meet work change move"
)


@dataclass(frozen=True)
class Reading:
    """A change as said. ``said``: the new state in the speaker's words without the old value
    ("the VPN port moved to 443"), or the retraction ("the VPN port is no longer 1194")."""

    subject: str  # "the VPN port", "my favourite editor", "I"
    new: str  # "443"; "" for a retraction
    was: str  # "1194"; "" when not said
    said: str
    copula: str  # "is" or "are": how "<subject> <copula> <new>" reads
    change: Change
    verb: str = ""  # "moved", "switched", ...: for "I moved from Berlin to Lisbon"


def read_change(text: str, *, marked: bool) -> Reading | None:
    """The change ``text`` states, if it states one. ``marked``: the sentence was marked as a
    correction ("actually", "correction:", "... now"), which makes a plain "X is Y" one too.
    A change is said in a short sentence: a long one is read as no change."""
    words = text.split()
    if len(words) > MAX_CHANGE_WORDS:
        return None
    text = " ".join(words)
    for read in (_moved, _no_longer, _not_but, _but_not, _is_now):
        if reading := read(text):
            return reading
    return _plain(text, marked)


def _moved(text: str) -> Reading | None:
    """A change said with a verb: "X moved from A to B", "X changed to B", "we moved X to B"."""
    for pattern in (_ACTIVE, _FROM_TO, _TO_FROM, _TO_ONLY):
        match = pattern.match(text)
        if not match:
            continue
        new, old = new_value(match["new"]), old_value(match.groupdict().get("old") or "")
        if not new or (match.groupdict().get("old") and not old):
            continue
        start = match.start("new")
        said = text[:start] + new
        if match.groupdict().get("from"):
            cut_start, cut_end = match.span("from")
            said = text[:cut_start] + text[cut_end:start] + new if cut_end <= start else said
        subject = _bare_subject(match["subject"])
        verb = match["verb"].lower()
        # With the old value named, a change is stated; "X moved to Y" alone is as often
        # news of something never noted ("the conversation moved to politics").
        change: Change = "state" if old else "amend"
        return Reading(subject, new, old, said, "is", change, verb)
    return None


def _no_longer(text: str) -> Reading | None:
    """A retraction, "X is no longer A", or a change, "X is no longer A, it's B"; and the
    same with "isn't A any more"."""
    match = _NO_LONGER.match(text) or _NOT_ANY_MORE.match(text)
    if not match:
        return None
    subject, copula = _bare_subject(match["subject"]), _copula(match)
    old = old_value(match["old"])
    if not old:
        return None
    if match["new"]:
        new = new_value(match["new"])
        if not new:
            return None
        return Reading(subject, new, old, f"{subject} {copula} {new}", copula, "state")
    return Reading(subject, "", old, f"{subject} {copula} no longer {old}", copula, "retract")


def _not_but(text: str) -> Reading | None:
    """A correction: "X isn't A, it's B", "X is not A but B"."""
    match = _NOT_BUT.match(text)
    return match and _corrected(match, match["new"], match["old"])


def _but_not(text: str) -> Reading | None:
    """A correction: "X is B, not A", "X is B instead of A"."""
    match = _BUT_NOT.match(text)
    if not match or match["new"].split()[0].lower() in {"not", "no"}:
        return None
    return _corrected(match, match["new"], match["old"])


def _is_now(text: str) -> Reading | None:
    """A correction (or news) of what X was: "X is now B", "X now is B"."""
    match = _IS_NOW.match(text)
    if not match:
        return None
    new = new_value(match["new"])
    if not new:
        return None
    subject, copula = _bare_subject(match["subject"]), _copula(match)
    return Reading(subject, new, "", f"{subject} {copula} now {new}", copula, "amend")


def _plain(text: str, marked: bool) -> Reading | None:
    """A plain "X is B" said as a correction: marked as one, or "X is actually B". "X is a B"
    is a definition, not a value."""
    match = _PLAIN.match(text)
    if not match or not (marked or match["inline"]):
        return None
    if match["new"].split()[0].lower() in {"a", "an"}:
        return None
    return _corrected(match, match["new"], "")


def _corrected(match: re.Match[str], new: str, old: str) -> Reading | None:
    new, was = new_value(new), old_value(old)
    if not new or (old and not was):
        return None
    subject, copula = _bare_subject(match["subject"]), _copula(match)
    return Reading(subject, new, was, f"{subject} {copula} {new}", copula, "amend")


def new_value(text: str) -> str:
    """The new value as said, without what trails it ("443 since Monday because ..." ->
    "443"); "" when it is no value (a pronoun, a clause, too long)."""
    value = trim_value(_VALUE_END.sub("", trim_value(text)))
    words = value.split()
    if not words or len(words) > MAX_VALUE_WORDS or words[0].lower() in NOT_A_VALUE:
        return ""
    return value if any(c.isalnum() for c in value) else ""


def old_value(text: str) -> str:
    return new_value(text) if text.strip() else ""


def _bare_subject(subject: str) -> str:
    """The subject without a contraction stuck to it ("the port's been moved")."""
    return re.sub(r"(?:'s|'ve|'re)$", "", subject.strip(), flags=re.IGNORECASE)


def _copula(match: re.Match[str]) -> str:
    groups = match.groupdict()
    said = next((groups[g] for g in ("cop", "now_cop", "short", "neg") if groups.get(g)), "")
    said = said.lower()
    return "are" if said in {"are", "'re", "aren't", "arent"} else "is"
