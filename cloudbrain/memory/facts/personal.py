"""What the user says about themselves: favourites, likes and dislikes, preferences, tools,
where they live and work, and their name."""

from __future__ import annotations

import re
from collections.abc import Callable

from cloudbrain.memory.facts.fact import Fact
from cloudbrain.memory.facts.keys import normalize_key
from cloudbrain.memory.facts.names import call_me, i_am, my_name
from cloudbrain.memory.facts.sentences import FILLER, bare_word, word_set, words_of
from cloudbrain.memory.facts.values import NOT_AN_OBJECT, object_of, third_person, trim_value

_ADVERBS = (
    r"(?:(?:really|also|just|absolutely|truly|totally|still|definitely|genuinely|actually"
    r"|honestly|personally|generally|usually|mostly|mainly|always|do|kinda|kind\s+of|quite"
    r"|very\s+much|much|strongly|secretly|now|currently)\s+){0,3}"
)


def _i(verbs: str) -> re.Pattern[str]:
    """A clause that opens with "I <adverbs> <verb>": anchored, so "if I like it" or "what I
    like is ..." do not read as preferences."""
    return re.compile(
        rf"^{FILLER}i(?:\s+|(?=')){_ADVERBS}(?:{verbs})\s+(?P<rest>.+)$", re.IGNORECASE
    )


_LIKE = _i(r"(?P<verb>like|love|enjoy|adore)")
_DISLIKE = _i(
    r"(?P<verb>hate|dislike|detest|despise|loathe|can't\s+stand|cannot\s+stand"
    r"|can\s+not\s+stand|don't\s+like|do\s+not\s+like|don't\s+enjoy|do\s+not\s+enjoy)"
)
_FAN = re.compile(
    rf"^{FILLER}i(?:'m|\s+am)\s+(?P<neg>not\s+)?(?:a\s+|an\s+)?(?:(?:big|huge|great|massive)\s+)?"
    r"fan\s+of\s+(?P<rest>.+)$",
    re.IGNORECASE,
)
_PREFER = _i(r"prefer")
_USE = _i(r"use|'m\s+using|am\s+using")
_USE_FOR = re.compile(r"^(?P<tool>.+?)\s+(?P<link>for|to)\s+(?P<purpose>.+)$", re.IGNORECASE)
_COMPARED = re.compile(
    r"^(?P<chosen>.+?)\s+(?P<than>over|rather\s+than|instead\s+of|than|to)\s+(?P<other>.+)$",
    re.IGNORECASE,
)
_LIVE = re.compile(
    rf"^{FILLER}i(?:\s+{_ADVERBS}(?:live|reside)\s+in|(?:'m|\s+am)\s+(?:living|based)\s+in"
    r"|(?:'ve|\s+have)?\s+(?:just\s+|recently\s+)?moved\s+to)\s+(?P<rest>.+)$",
    re.IGNORECASE,
)
_WORK = re.compile(
    rf"^{FILLER}i(?:\s+{_ADVERBS}work|(?:'m|\s+am)\s+(?:working|employed))\s+"
    r"(?P<prep>at|for|as)\s+(?P<rest>.+)$",
    re.IGNORECASE,
)
_FAVOURITE = re.compile(
    r"\bmy\s+(?:(?:absolute|all[-\s]time|very|most)\s+)?(?:favou?rite|fave)\s+(?P<what>.+?)"
    r"(?:\s+(?P<verb>is|are)|(?P<short>'s|'re))\s+(?P<rest>.+)$",
    re.IGNORECASE,
)
_FAVOURITE_FIRST = re.compile(
    r"^(?P<rest>\S+(?:\s+\S+){0,3}?)\s+(?P<verb>is|are)\s+my\s+(?:(?:absolute|all[-\s]time)\s+)?"
    r"(?:favou?rite|fave)\s+(?P<what>.+)$",
    re.IGNORECASE,
)
_COPULA = re.compile(r"\b(?:is|are|was|were)\b", re.IGNORECASE)


def _favourite(clause: str) -> Fact | None:
    """A favourite: "my favourite editor is Helix", "my fave colour's blue", "Helix is my
    favourite editor". One value per thing, so a new favourite supersedes the old one."""
    match = _FAVOURITE.search(clause)
    if match:
        what, rest = match["what"], match["rest"]
        verb = "are" if (match["verb"] or match["short"]).lower() in {"are", "'re"} else "is"
        if _COPULA.search(trim_value(rest)):
            return None  # "my favourite band's new album is great": not a favourite
    else:
        match = _FAVOURITE_FIRST.match(clause)
        if not match or bare_word(match["rest"].split()[0]) in NOT_AN_OBJECT:
            return None
        what, rest, verb = match["what"], match["rest"], match["verb"].lower()
    what = trim_value(what)
    value = object_of(rest, max_words=8)
    if not value or not 1 <= len(words_of(what)) <= 3 or not normalize_key(what):
        return None
    value, what = third_person(value), third_person(what).lower()
    key = f"user favourite {normalize_key(what)}"
    return Fact(key, f"The user's favourite {what} {verb} {value}.", value, "user")


_LIKE_VERBS = {"like": "likes", "love": "loves", "enjoy": "enjoys", "adore": "adores"}


def _like(clause: str) -> Fact | None:
    """Liking is additive: "I like tea" and "I like coffee" are both true, so the object is
    part of the key. Loving tea repeats liking it."""
    match = _LIKE.match(clause)
    value = match and object_of(match["rest"], max_words=6)
    if not match or not value:
        return None
    value = third_person(value)
    verb = _LIKE_VERBS[match["verb"].lower()]
    return Fact(f"user likes {normalize_key(value)}", f"The user {verb} {value}.", value, "user")


def _dislike(clause: str) -> Fact | None:
    match = _DISLIKE.match(clause)
    value = match and object_of(match["rest"], max_words=6)
    if not match or not value:
        return None
    value = third_person(value)
    verb = "hates" if match["verb"].lower() in {"hate", "loathe", "detest", "despise"} else ""
    text = f"The user {verb or 'dislikes'} {value}."
    return Fact(f"user dislikes {normalize_key(value)}", text, value, "user")


def _fan(clause: str) -> Fact | None:
    """Being a fan: "I'm a big fan of Rust" likes it; "I'm not a fan of YAML" dislikes it."""
    match = _FAN.match(clause)
    value = match and object_of(match["rest"], max_words=6)
    if not match or not value:
        return None
    value = third_person(value)
    slot = "dislikes" if match["neg"] else "likes"
    return Fact(f"user {slot} {normalize_key(value)}", f"The user {slot} {value}.", value, "user")


def _prefer(clause: str) -> Fact | None:
    """A preference. "I prefer tea over coffee" is one choice between two things: the key
    names both, in a fixed order, so "I prefer coffee to tea" later supersedes it. "I prefer
    tea" alone is additive, like "I like tea"."""
    match = _PREFER.match(clause)
    if not match:
        return None
    rest = trim_value(match["rest"])
    choice = _choice(rest)
    if choice:
        return choice
    value = object_of(rest, max_words=6)
    if not value:
        return None
    value = third_person(value)
    text = f"The user prefers {value}."
    return Fact(f"user prefers {normalize_key(value)}", text, value, "user")


def _choice(rest: str) -> Fact | None:
    """Tea over coffee; "to" compares only after a noun ("I prefer going to the gym" is no
    choice between going and the gym)."""
    compared = _COMPARED.match(rest)
    if not compared:
        return None
    if compared["than"].lower() == "to" and bare_word(compared["chosen"].split()[-1]).endswith(
        "ing"
    ):
        return None
    chosen = object_of(compared["chosen"], max_words=4)
    other = object_of(compared["other"], max_words=4)
    if not chosen or not other:
        return None
    chosen, other = third_person(chosen), third_person(other)
    pair = " or ".join(sorted((normalize_key(chosen), normalize_key(other))))
    text = f"The user prefers {chosen} over {other}."
    return Fact(f"user prefers {pair}", text, chosen, "user")


def _use(clause: str) -> Fact | None:
    """A tool: "I use Helix for editing" fills the slot of what the user uses for editing (a
    new tool for the same purpose supersedes); "I use Linux" alone is additive."""
    match = _USE.match(clause)
    if not match:
        return None
    rest = trim_value(match["rest"])
    purposeful = _USE_FOR.match(rest)
    if purposeful:
        tool = object_of(purposeful["tool"], max_words=5)
        purpose = object_of(purposeful["purpose"], max_words=6)
        if tool and purpose:
            tool, purpose = third_person(tool), third_person(purpose)
            text = f"The user uses {tool} {purposeful['link'].lower()} {purpose}."
            key = f"user uses {purposeful['link'].lower()} {normalize_key(purpose)}"
            return Fact(key, text, tool, "user")
        return None
    tool = object_of(rest, max_words=5)
    if not tool:
        return None
    tool = third_person(tool)
    return Fact(f"user uses {normalize_key(tool)}", f"The user uses {tool}.", tool, "user")


NOT_A_PLACE = word_set(
    "a an my our your his her their this that fear hope denial peace hell it here there"
)
NOT_AN_EMPLOYER = word_set(
    "night nights home weekends weekend least times first once it this that them him her "
    "you free fun money hours the myself me"
)


def _live(clause: str) -> Fact | None:
    """Where the user lives: one place, so moving supersedes it."""
    match = _LIVE.match(clause)
    if not match:
        return None
    place = trim_value(match["rest"])
    words = [bare_word(w) for w in words_of(place)]
    if not words or len(words) > 6 or words[0] in NOT_A_PLACE or words[:2] in _NOT_PLACES:
        return None
    return Fact("user lives in", f"The user lives in {place}.", place, "user")


_NOT_PLACES = [["the", w] for w in ("moment", "present", "past", "future", "now")]


def _work(clause: str) -> Fact | None:
    """Where the user works ("at"/"for", one slot) and as what ("as", another)."""
    match = _WORK.match(clause)
    if not match:
        return None
    place = trim_value(match["rest"])
    words = words_of(place)
    if not words or len(words) > 6:
        return None
    prep = match["prep"].lower()
    if prep == "as":
        role = re.sub(r"^(?:an?|the)\s+", "", place, flags=re.IGNORECASE)
        if not role or bare_word(role.split()[0]) in NOT_AN_OBJECT:
            return None
        return Fact("user works as", f"The user works as {place}.", role, "user")
    if bare_word(words[0]) in NOT_AN_EMPLOYER and not (len(words) > 1 and words[1][:1].isupper()):
        return None
    return Fact("user works at", f"The user works {prep} {place}.", place, "user")


PERSONAL: tuple[Callable[[str], Fact | None], ...] = (
    my_name,
    call_me,
    i_am,
    _favourite,
    _like,
    _dislike,
    _fan,
    _prefer,
    _use,
    _live,
    _work,
)
