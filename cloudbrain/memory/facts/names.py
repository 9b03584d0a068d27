"""The user's name, as said with "my name is", "call me" or "I'm"."""

from __future__ import annotations

import re

from cloudbrain.memory.facts.fact import Fact
from cloudbrain.memory.facts.sentences import FILLER, bare_word, word_set, words_of

_MY_NAME = re.compile(r"\bmy\s+name(?:\s+is|'s)\s+(?P<rest>.+)$", re.IGNORECASE)
_CALL_ME = re.compile(r"\bcall\s+me\s+(?P<rest>.+)$", re.IGNORECASE)
_NOT_BEFORE_CALL = re.compile(r"\b(?:don't|do\s+not|never|not|stop|won't)\b", re.IGNORECASE)
_I_AM = re.compile(rf"^{FILLER}i(?:'m|\s+am)\s+(?P<rest>.+)$", re.IGNORECASE)
_I_AM_TAIL = re.compile(r"^(?:here|btw|by\s+the\s+way|from\s+.+)?$", re.IGNORECASE)

NAME_PARTICLES = word_set("van von de da del der di du le la")
# Words that follow "my name is" / "call me" / "I'm" without being a name.
NOT_A_NAME = word_set(
    "and but or by btw from so if because though nice please thanks thank not i im you "
    "your the a an here there now too also just actually really what who is are was to in "
    "at on of with for tomorrow today tonight later back soon sometime anytime maybe when "
    "asap crazy names again it that this me up out over about anything whatever"
)
# Capitalized words that follow "I'm" without being a name ("I'm Sorry", "I'm English").
NOT_A_NAME_AFTER_I_AM = NOT_A_NAME | word_set(
    "ok okay fine good great sorry sure home done ready new very still tired hungry happy "
    "sad busy free lost confused bored excited glad afraid alone late early sick ill well "
    "going trying working looking coming leaving thinking into off english british "
    "american german french spanish italian canadian australian indian chinese japanese "
    "dutch irish scottish swiss vegan vegetarian married single retired human always "
    "never"
)
_NAME_TOKEN = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*\.?")


def _name(text: str, stop: frozenset[str], *, capitalized_only: bool) -> str | None:
    """The name at the start of ``text``: a run of up to four capitalized words, particles
    allowed inside ("Ludwig van Beethoven"). Typed in lowercase, only the first word is taken
    (nothing tells "ada lovelace" from "ada nice to meet you"); ``capitalized_only`` refuses
    even that. A name typed all in one case comes back capitalized: "ADA" -> "Ada"."""
    run: list[str] = []
    for raw in words_of(text)[:4]:
        token = raw.strip(".,;:!?\"'()")
        if not _NAME_TOKEN.fullmatch(token) or bare_word(token) in stop:
            break
        lower = not token[0].isupper()
        if lower and (run or capitalized_only) and bare_word(token) not in NAME_PARTICLES:
            break
        run.append(token.rstrip("."))
        if lower and len(run) == 1:
            break
    while run and bare_word(run[-1]) in NAME_PARTICLES:
        run.pop()
    name = " ".join(run)
    if not name:
        return None
    return name.title() if name.islower() or name.isupper() else name


def _fact_name(value: str) -> Fact:
    return Fact("user name", f"The user's name is {value}.", value, "user")


def my_name(clause: str) -> Fact | None:
    match = _MY_NAME.search(clause)
    name = match and _name(match["rest"], NOT_A_NAME, capitalized_only=False)
    return _fact_name(name) if name else None


def call_me(clause: str) -> Fact | None:
    match = _CALL_ME.search(clause)
    if not match or _NOT_BEFORE_CALL.search(clause[: match.start()]):
        return None
    name = _name(match["rest"], NOT_A_NAME, capitalized_only=True)
    return _fact_name(name) if name else None


def i_am(clause: str) -> Fact | None:
    """A name said as "I'm Ada", but not "I'm tired": the name must be capitalized as typed,
    the clause must not be all one case (which hides capitals), and nothing but a name may
    follow."""
    letters = [c for c in clause if c.isalpha()]
    if all(c.isupper() for c in letters) or all(c.islower() for c in letters[1:]):
        return None
    match = _I_AM.match(clause)
    if not match:
        return None
    name = _name(match["rest"], NOT_A_NAME_AFTER_I_AM, capitalized_only=True)
    if not name or len(name.split()) > 3:
        return None
    tail = " ".join(words_of(match["rest"])[len(name.split()) :]).strip(" .,!")
    return _fact_name(name) if _I_AM_TAIL.match(tail) else None
