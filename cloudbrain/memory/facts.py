"""Facts from one exchange, by rule: what the user said about themselves, what they asked to be
remembered, and what a term means; plus the decision of what to do with a fact already known.

Rules rather than a model, because facts are written on every exchange: extraction has to be
cheap, deterministic and explainable, and it has to prefer missing a fact to inventing one (a
wrong "fact" is recalled with authority later). So every pattern is anchored and conservative,
and a fact is kept only when its subject and value look like what the pattern is about.

A fact has a *key*, the slot it fills ("user name", "user favourite editor", "user likes tea",
"definition kubernetes", "note deploy window"). Keys are what make memory tidy:

- a single-valued slot (name, favourite X, lives in, works at, works as, what is used for Y,
  a note's subject, a definition, a choice between two things) holds one current value, so a
  new value *supersedes* the old one, which stays as history;
- an additive preference ("I like X", "I hate X", "I prefer X", "I use X") puts its object in
  the key ("user likes tea"), so liking tea and liking coffee are two facts that never
  supersede each other; saying it again only counts it again.

Everything here is pure: text in, plain data out, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

Source = Literal["user", "ai"]

MAX_KEY_CHARS = 200  # the column holds 256; a key is a subject, never a paragraph


@dataclass(frozen=True)
class Fact:
    key: str  # the normalized slot the fact fills: "user name", "definition kubernetes"
    text: str  # the fact as a sentence, ready to be recalled: "The user's name is Ada."
    value: str  # the part that can change between two facts with the same key: "Ada"
    source: Source  # who said it: the user's message or the AI's answer


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


# --- Deciding -----------------------------------------------------------------------------


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


# --- What is not knowledge ------------------------------------------------------------------

_FAILURE_START = re.compile(r"^\s*(?:error|exception|fatal)\s*:", re.IGNORECASE)
_FAILURE_ANYWHERE = re.compile(
    r"traceback \(most recent call last\)"
    r"|\btimed out\b"
    r"|\bconnection (?:refused|reset|error)\b"
    r"|\bi (?:don't|do not) know\b"
    r"|\bmodel\b[^\n]{0,80}?\bnot found\b",
    re.IGNORECASE,
)


def is_knowledge(text: str) -> bool:
    """False for what must never be remembered as knowledge: error messages, timeouts, stack
    traces, a model that could not be reached, and an AI admitting it does not know. Stored,
    they would be recalled later as if they were answers. Blank text is not knowledge either."""
    text = _clean(text)
    if not text.strip():
        return False
    return not (_FAILURE_START.search(text) or _FAILURE_ANYWHERE.search(text))


# --- Normalizing ----------------------------------------------------------------------------

# British spelling wins, so "favorite color" and "favourite colour" are one slot.
SPELLING = {
    "favorite": "favourite",
    "favorites": "favourites",
    "fave": "favourite",
    "color": "colour",
    "colors": "colours",
    "flavor": "flavour",
    "flavors": "flavours",
    "humor": "humour",
    "neighbor": "neighbour",
    "neighborhood": "neighbourhood",
    "center": "centre",
    "theater": "theatre",
    "gray": "grey",
    "organization": "organisation",
}

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u201c": '"'})
_QUOTES_MORE = str.maketrans({"\u201d": '"', "\u00a0": " "})
_KEY_WORD = re.compile(r"[\w+#]+")
_POSSESSIVE = re.compile(r"'s\b")


def fold(text: str) -> str:
    """Accents off ("café" -> "cafe") and case folded, so keys match however they were typed.
    Letters with no ASCII base (e.g. CJK) are kept, so such keys are not empty."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def normalize_key(text: str) -> str:
    """A key's canonical form: folded, apostrophes dropped, punctuation to spaces (``+`` and
    ``#`` stay, for C++ and F#), spelling variants merged, spaces collapsed, length bounded."""
    # A possessive names the same slot as its noun: "user's favourite" is "user favourite".
    words = _KEY_WORD.findall(_POSSESSIVE.sub("", fold(text)).replace("'", ""))
    key = " ".join(SPELLING.get(w, w) for w in words)
    return key[:MAX_KEY_CHARS].rsplit(" ", 1)[0] if len(key) > MAX_KEY_CHARS else key


def _clean(text: str) -> str:
    """One form for the many ways people type the same thing: compatibility characters
    (full-width letters, ligatures) unified, curly quotes straightened, no zero-width marks."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).translate(_QUOTES_MORE)
    text = text.replace("**", "").replace("`", "")
    return "".join(c for c in text if c in "\n\t" or unicodedata.category(c)[0] != "C")


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


def _word(text: str) -> str:
    """The folded bare form of one word, for comparing against word lists."""
    return fold(text.strip(".,;:!?\"'()[]{}"))


def _words(text: str) -> list[str]:
    return text.split()


def _sentence(text: str) -> str:
    """A fact's text: capitalized, one final full stop."""
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


# --- Sentences and clauses ------------------------------------------------------------------

_LIST_MARKER = re.compile(r"^(?:[-*+\u2022>]|#+|\d+[.)])\s+")
_SENTENCE_END = re.compile(r"[.!?;]+[\"')\]]*(?=\s|$)|\n")
ABBREVIATIONS = {"e.g", "i.e", "etc", "vs", "mr", "mrs", "ms", "dr", "prof", "st", "approx"}


@dataclass(frozen=True)
class Sentence:
    text: str  # without its final punctuation
    question: bool


def split_sentences(text: str) -> list[Sentence]:
    """Sentences, each with whether it was a question (questions state nothing). A full stop
    after a common abbreviation ("e.g.", "Dr.") does not end a sentence."""
    pieces: list[str] = []
    start = 0
    for end in _SENTENCE_END.finditer(text):
        pieces.append(text[start : end.end()])
        start = end.end()
    pieces.append(text[start:])
    merged: list[str] = []
    for piece in pieces:
        if merged and _ends_with_abbreviation(merged[-1]):
            merged[-1] += piece
        else:
            merged.append(piece)
    sentences = []
    for piece in merged:
        body = _LIST_MARKER.sub("", piece.strip()).rstrip(".!?;\"')] \t\u2026").strip()
        if body:
            sentences.append(Sentence(body, "?" in piece.strip()[-3:]))
    return sentences


def _ends_with_abbreviation(piece: str) -> bool:
    stripped = piece.rstrip()
    if not stripped.endswith(".") or stripped.endswith(".."):
        return False
    words = stripped[:-1].split()
    return bool(words) and fold(words[-1]) in ABBREVIATIONS


_CLAUSE_BREAK = re.compile(
    r"\s*,(?!\d)\s*|\s*:(?=\s)\s*|\s*[()\u2014]\s*|\s+[-\u2013]\s+"
    r"|\s+(?:and|but|so|while|whereas|although|though)\s+"
    r"(?=(?:also\s+|really\s+)?(?:i|i'm|i've|i'd|my|call|please)\b)",
    re.IGNORECASE,
)
QUESTION_WORDS = _wordset(
    "what whats who whom whose where when why how which do does did is are am was were "
    "can could would should will shall may have has dont doesnt isnt arent right ok okay"
)


def clauses(sentence: Sentence) -> list[str]:
    """The sentence's clauses that state something. A question's last clause is its question
    ("I like tea, do you?", "My name is Ada?"), and any clause opening with a question word
    asks; both are left out."""
    parts = [p.strip() for p in _CLAUSE_BREAK.split(sentence.text) if p and p.strip()]
    if not sentence.question:
        return parts
    return [p for p in parts[:-1] if _word(p.split()[0]).replace("'", "") not in QUESTION_WORDS]


# --- Values ---------------------------------------------------------------------------------

_VALUE_CUT = re.compile(
    r"\s+(?:because|since|but|though|although|unless|which|whereas|while|until|when|so that"
    r"|if|as long as|like i said)\b.*$",
    re.IGNORECASE,
)
_VALUE_TAIL = re.compile(
    r"(?:\s+(?:too|as well|a lot|very much|so much|btw|by the way|though|anyway|now|right now"
    r"|these days|nowadays|currently|at the moment|lately|for now|already))+$",
    re.IGNORECASE,
)
_FIRST_PERSON = {"my": "their", "mine": "theirs", "myself": "themselves", "me": "them"}
_FIRST_PERSON_WORD = re.compile(r"\b(?:my|mine|myself|me)\b", re.IGNORECASE)


def _value(text: str) -> str:
    """The value a pattern captured, without what follows it ("Berlin since 2020" -> "Berlin")
    and without trailing chatter ("tea too" -> "tea")."""
    text = _VALUE_CUT.sub("", text.strip())
    text = _VALUE_TAIL.sub("", text)
    return text.strip(" \t.,;:!?\"'")


def _third_person(text: str) -> str:
    """The user's words as a fact about the user: "my dog" -> "their dog"."""
    return _FIRST_PERSON_WORD.sub(lambda m: _FIRST_PERSON[m[0].lower()], text)


# Objects that point at the conversation rather than name a thing ("I like it", "I love how
# you did that"): a fact about them would mean nothing when recalled.
NOT_AN_OBJECT = _wordset(
    "it its this that these those them him her you your yours me us one ones everything "
    "something nothing anything everyone someone anyone nobody how what when where why "
    "which who whom whether if so too very much more less most here there both either "
    "neither such myself yourself to a an the not and or but all some any lot lots being "
    "because"
)


def _object(text: str, max_words: int) -> str | None:
    """The object of a preference, or None when it is a pronoun, a clause or too long to be a
    thing. "the" alone is not enough to refuse ("the sea"), only as "the way ..."."""
    value = _value(text)
    words = _words(value)
    if not words or len(words) > max_words:
        return None
    first = _word(words[0])
    if first == "the" and len(words) > 1 and _word(words[1]) not in {"way", "fact", "idea"}:
        return value
    if first in NOT_AN_OBJECT or not any(c.isalnum() for c in value):
        return None
    return value


# --- The user about themselves --------------------------------------------------------------

_FILLER = (
    r"(?:(?:hi|hello|hey|well|oh|ok|okay|so|and|also|yes|yeah|btw|anyway|actually|honestly"
    r"|by\s+the\s+way|fyi|oh\s+and|just\s+so\s+you\s+know)\s+)*"
)
_ADVERBS = (
    r"(?:(?:really|also|just|absolutely|truly|totally|still|definitely|genuinely|actually"
    r"|honestly|personally|generally|usually|mostly|mainly|always|do|kinda|kind\s+of|quite"
    r"|very\s+much|much|strongly|secretly|now|currently)\s+){0,3}"
)


def _i(verbs: str) -> re.Pattern[str]:
    """A clause that opens with "I <adverbs> <verb>": anchored, so "if I like it" or "what I
    like is ..." do not read as preferences."""
    return re.compile(
        rf"^{_FILLER}i(?:\s+|(?=')){_ADVERBS}(?:{verbs})\s+(?P<rest>.+)$", re.IGNORECASE
    )


_LIKE = _i(r"(?P<verb>like|love|enjoy|adore)")
_DISLIKE = _i(
    r"(?P<verb>hate|dislike|detest|despise|loathe|can't\s+stand|cannot\s+stand"
    r"|can\s+not\s+stand|don't\s+like|do\s+not\s+like|don't\s+enjoy|do\s+not\s+enjoy)"
)
_FAN = re.compile(
    rf"^{_FILLER}i(?:'m|\s+am)\s+(?P<neg>not\s+)?(?:a\s+|an\s+)?(?:(?:big|huge|great|massive)\s+)?"
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
    rf"^{_FILLER}i(?:\s+{_ADVERBS}(?:live|reside)\s+in|(?:'m|\s+am)\s+(?:living|based)\s+in"
    r"|(?:'ve|\s+have)?\s+(?:just\s+|recently\s+)?moved\s+to)\s+(?P<rest>.+)$",
    re.IGNORECASE,
)
_WORK = re.compile(
    rf"^{_FILLER}i(?:\s+{_ADVERBS}work|(?:'m|\s+am)\s+(?:working|employed))\s+"
    r"(?P<prep>at|for|as)\s+(?P<rest>.+)$",
    re.IGNORECASE,
)
_MY_NAME = re.compile(r"\bmy\s+name(?:\s+is|'s)\s+(?P<rest>.+)$", re.IGNORECASE)
_CALL_ME = re.compile(r"\bcall\s+me\s+(?P<rest>.+)$", re.IGNORECASE)
_NOT_BEFORE_CALL = re.compile(r"\b(?:don't|do\s+not|never|not|stop|won't)\b", re.IGNORECASE)
_I_AM = re.compile(rf"^{_FILLER}i(?:'m|\s+am)\s+(?P<rest>.+)$", re.IGNORECASE)
_I_AM_TAIL = re.compile(r"^(?:here|btw|by\s+the\s+way|from\s+.+)?$", re.IGNORECASE)
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

NAME_PARTICLES = _wordset("van von de da del der di du le la")
# Words that follow "my name is" / "call me" / "I'm" without being a name.
NOT_A_NAME = _wordset(
    "and but or by btw from so if because though nice please thanks thank not i im you "
    "your the a an here there now too also just actually really what who is are was to in "
    "at on of with for tomorrow today tonight later back soon sometime anytime maybe when "
    "asap crazy names again it that this me up out over about anything whatever"
)
# Capitalized words that follow "I'm" without being a name ("I'm Sorry", "I'm English").
NOT_A_NAME_AFTER_I_AM = NOT_A_NAME | _wordset(
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
    for raw in _words(text)[:4]:
        token = raw.strip(".,;:!?\"'()")
        if not _NAME_TOKEN.fullmatch(token) or _word(token) in stop:
            break
        lower = not token[0].isupper()
        if lower and (run or capitalized_only) and _word(token) not in NAME_PARTICLES:
            break
        run.append(token.rstrip("."))
        if lower and len(run) == 1:
            break
    while run and _word(run[-1]) in NAME_PARTICLES:
        run.pop()
    name = " ".join(run)
    if not name:
        return None
    return name.title() if name.islower() or name.isupper() else name


def _fact_name(value: str) -> Fact:
    return Fact("user name", f"The user's name is {value}.", value, "user")


def _my_name(clause: str) -> Fact | None:
    match = _MY_NAME.search(clause)
    name = match and _name(match["rest"], NOT_A_NAME, capitalized_only=False)
    return _fact_name(name) if name else None


def _call_me(clause: str) -> Fact | None:
    match = _CALL_ME.search(clause)
    if not match or _NOT_BEFORE_CALL.search(clause[: match.start()]):
        return None
    name = _name(match["rest"], NOT_A_NAME, capitalized_only=True)
    return _fact_name(name) if name else None


def _i_am(clause: str) -> Fact | None:
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
    tail = " ".join(_words(match["rest"])[len(name.split()) :]).strip(" .,!")
    return _fact_name(name) if _I_AM_TAIL.match(tail) else None


def _favourite(clause: str) -> Fact | None:
    """A favourite: "my favourite editor is Helix", "my fave colour's blue", "Helix is my
    favourite editor". One value per thing, so a new favourite supersedes the old one."""
    match = _FAVOURITE.search(clause)
    if match:
        what, rest = match["what"], match["rest"]
        verb = "are" if (match["verb"] or match["short"]).lower() in {"are", "'re"} else "is"
        if _COPULA.search(_value(rest)):
            return None  # "my favourite band's new album is great": not a favourite
    else:
        match = _FAVOURITE_FIRST.match(clause)
        if not match or _word(match["rest"].split()[0]) in NOT_AN_OBJECT:
            return None
        what, rest, verb = match["what"], match["rest"], match["verb"].lower()
    what = _value(what)
    value = _object(rest, max_words=8)
    if not value or not 1 <= len(_words(what)) <= 3 or not normalize_key(what):
        return None
    value, what = _third_person(value), _third_person(what).lower()
    key = f"user favourite {normalize_key(what)}"
    return Fact(key, f"The user's favourite {what} {verb} {value}.", value, "user")


_LIKE_VERBS = {"like": "likes", "love": "loves", "enjoy": "enjoys", "adore": "adores"}


def _like(clause: str) -> Fact | None:
    """Liking is additive: "I like tea" and "I like coffee" are both true, so the object is
    part of the key. Loving tea repeats liking it."""
    match = _LIKE.match(clause)
    value = match and _object(match["rest"], max_words=6)
    if not match or not value:
        return None
    value = _third_person(value)
    verb = _LIKE_VERBS[match["verb"].lower()]
    return Fact(f"user likes {normalize_key(value)}", f"The user {verb} {value}.", value, "user")


def _dislike(clause: str) -> Fact | None:
    match = _DISLIKE.match(clause)
    value = match and _object(match["rest"], max_words=6)
    if not match or not value:
        return None
    value = _third_person(value)
    verb = "hates" if match["verb"].lower() in {"hate", "loathe", "detest", "despise"} else ""
    text = f"The user {verb or 'dislikes'} {value}."
    return Fact(f"user dislikes {normalize_key(value)}", text, value, "user")


def _fan(clause: str) -> Fact | None:
    """Being a fan: "I'm a big fan of Rust" likes it; "I'm not a fan of YAML" dislikes it."""
    match = _FAN.match(clause)
    value = match and _object(match["rest"], max_words=6)
    if not match or not value:
        return None
    value = _third_person(value)
    slot = "dislikes" if match["neg"] else "likes"
    return Fact(f"user {slot} {normalize_key(value)}", f"The user {slot} {value}.", value, "user")


def _prefer(clause: str) -> Fact | None:
    """A preference. "I prefer tea over coffee" is one choice between two things: the key
    names both, in a fixed order, so "I prefer coffee to tea" later supersedes it. "I prefer
    tea" alone is additive, like "I like tea"."""
    match = _PREFER.match(clause)
    if not match:
        return None
    rest = _value(match["rest"])
    choice = _choice(rest)
    if choice:
        return choice
    value = _object(rest, max_words=6)
    if not value:
        return None
    value = _third_person(value)
    text = f"The user prefers {value}."
    return Fact(f"user prefers {normalize_key(value)}", text, value, "user")


def _choice(rest: str) -> Fact | None:
    """Tea over coffee; "to" compares only after a noun ("I prefer going to the gym" is no
    choice between going and the gym)."""
    compared = _COMPARED.match(rest)
    if not compared:
        return None
    if compared["than"].lower() == "to" and _word(compared["chosen"].split()[-1]).endswith("ing"):
        return None
    chosen = _object(compared["chosen"], max_words=4)
    other = _object(compared["other"], max_words=4)
    if not chosen or not other:
        return None
    chosen, other = _third_person(chosen), _third_person(other)
    pair = " or ".join(sorted((normalize_key(chosen), normalize_key(other))))
    text = f"The user prefers {chosen} over {other}."
    return Fact(f"user prefers {pair}", text, chosen, "user")


def _use(clause: str) -> Fact | None:
    """A tool: "I use Helix for editing" fills the slot of what the user uses for editing (a
    new tool for the same purpose supersedes); "I use Linux" alone is additive."""
    match = _USE.match(clause)
    if not match:
        return None
    rest = _value(match["rest"])
    purposeful = _USE_FOR.match(rest)
    if purposeful:
        tool = _object(purposeful["tool"], max_words=5)
        purpose = _object(purposeful["purpose"], max_words=6)
        if tool and purpose:
            tool, purpose = _third_person(tool), _third_person(purpose)
            text = f"The user uses {tool} {purposeful['link'].lower()} {purpose}."
            key = f"user uses {purposeful['link'].lower()} {normalize_key(purpose)}"
            return Fact(key, text, tool, "user")
        return None
    tool = _object(rest, max_words=5)
    if not tool:
        return None
    tool = _third_person(tool)
    return Fact(f"user uses {normalize_key(tool)}", f"The user uses {tool}.", tool, "user")


NOT_A_PLACE = _wordset(
    "a an my our your his her their this that fear hope denial peace hell it here there"
)
NOT_AN_EMPLOYER = _wordset(
    "night nights home weekends weekend least times first once it this that them him her "
    "you free fun money hours the myself me"
)


def _live(clause: str) -> Fact | None:
    """Where the user lives: one place, so moving supersedes it."""
    match = _LIVE.match(clause)
    if not match:
        return None
    place = _value(match["rest"])
    words = [_word(w) for w in _words(place)]
    if not words or len(words) > 6 or words[0] in NOT_A_PLACE or words[:2] in _NOT_PLACES:
        return None
    return Fact("user lives in", f"The user lives in {place}.", place, "user")


_NOT_PLACES = [["the", w] for w in ("moment", "present", "past", "future", "now")]


def _work(clause: str) -> Fact | None:
    """Where the user works ("at"/"for", one slot) and as what ("as", another)."""
    match = _WORK.match(clause)
    if not match:
        return None
    place = _value(match["rest"])
    words = _words(place)
    if not words or len(words) > 6:
        return None
    prep = match["prep"].lower()
    if prep == "as":
        role = re.sub(r"^(?:an?|the)\s+", "", place, flags=re.IGNORECASE)
        if not role or _word(role.split()[0]) in NOT_AN_OBJECT:
            return None
        return Fact("user works as", f"The user works as {place}.", role, "user")
    if _word(words[0]) in NOT_AN_EMPLOYER and not (len(words) > 1 and words[1][:1].isupper()):
        return None
    return Fact("user works at", f"The user works {prep} {place}.", place, "user")


PERSONAL: tuple[Callable[[str], Fact | None], ...] = (
    _my_name,
    _call_me,
    _i_am,
    _favourite,
    _like,
    _dislike,
    _fan,
    _prefer,
    _use,
    _live,
    _work,
)


# --- Notes the user asks to keep --------------------------------------------------------------

_NOTE = re.compile(
    rf"^{_FILLER}(?:please\s+)?(?:(?:also\s+)?(?:remember|note(?:\s+to\s+self)?|keep\s+in\s+mind"
    r"|don't\s+forget|do\s+not\s+forget|never\s+forget|make\s+a\s+note(?:\s+of)?|take\s+note"
    r"(?:\s+of)?|for\s+the\s+record))\b(?:\s+(?:that|this))?\s*[:,\-\u2013\u2014]?\s*(?P<rest>.+)$",
    re.IGNORECASE,
)
NOTE_SKIP = _wordset(
    "the a an that this these those my our your their his her its to of in on at for and "
    "or with we i you they he she it be by from as all me us them please also always "
    "never"
)
NOTE_VERBS = _wordset(
    "is are was were will be been has have had should must can could would shall may "
    "might does do did need needs isnt arent wont doesnt cant"
)
NOTE_PREPOSITIONS = _wordset(
    "on at in to for from with by into onto until since before after during about"
)
NOTE_KEY_WORDS = 3


def _note(sentence: Sentence) -> tuple[Fact, str] | None:
    """A note: "Remember that the deploy window is Friday 10:00" keeps the rest of the
    sentence as said, under "note" and its first content words up to the verb ("note deploy
    window"), so that a later note on the same subject supersedes it. The rest is returned
    too, for the other patterns to read ("please remember I like tea")."""
    match = _NOTE.match(sentence.text)
    if sentence.question or not match:
        return None
    rest = match["rest"].strip().rstrip(" .,;:!")
    words = _words(rest)
    if len(words) < 2 or _word(words[0]) in QUESTION_WORDS - {"do", "is", "are"}:
        return None
    key = _note_key(rest)
    if not key:
        return None
    text = f"Remember {rest}." if _word(words[0]) == "to" else f"Remember: {rest}."
    return Fact(key, text, rest, "user"), rest


def _note_key(rest: str) -> str | None:
    """The note's subject: its first content words, at most three, before the first verb or,
    once a word is in, the first preposition ("the café opens at 9" -> "cafe opens"). Numbers
    are left out: they are what changes, not what the note is about."""
    tokens = re.findall(r"[\w+#']+", fold(rest))
    subject: list[str] = []
    for token in tokens:
        base, _, contraction = token.partition("'")
        if base in NOTE_VERBS or token.replace("'", "") in NOTE_VERBS:
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
    return f"note {key}" if key else None


# --- Definitions ----------------------------------------------------------------------------

_OPENING = re.compile(
    r"^(?:sure|yes|yeah|well|so|ok|okay|basically|essentially|in\s+short|simply\s+put"
    r"|great\s+question|good\s+question)\s*[,!:]\s*",
    re.IGNORECASE,
)
_DEFINITION = re.compile(
    r"^(?P<subject>\S+(?:\s+\S+){0,3}?)\s+(?P<verb>(?:is|are)\s+short\s+for|stands\s+for"
    r"|means|is|are)\s+(?P<rest>\S.*)$",
    re.IGNORECASE,
)
# A subject that points elsewhere ("it is a ...", "that means ...") or is a person, a time
# or a filler is not a term being defined.
NOT_A_SUBJECT = _wordset(
    "it its this that there here he she they we you i these those what which who whom "
    "whose where when why how my your our their his her one each every some any all no "
    "none nothing something everything anything everyone someone anyone nobody today "
    "tomorrow yesterday tonight now then mine yours ours theirs hers both either neither "
    "such another other the life maybe perhaps also so well yes no not if because but and "
    "or while although though still just thanks thank please hello hi hey ok okay sure "
    "time whatever whoever everybody somebody anybody someday sometimes e.g i.e eg ie"
)
# Words that give away a clause rather than a term anywhere in the subject.
NOT_IN_SUBJECT = _wordset(
    "not really also always never still just actually definitely probably certainly truly "
    "is are was were be been do does did has have had will would can could should might "
    "must may think thought said says guess believe know i you we it he she they my your "
    "our if because that this"
)
# After "is a": judgements, amounts and figures of speech, not categories.
NOT_A_DEFINITION = _wordset(
    "bit little lot few couple must pain mess joke shame pity nightmare disaster problem "
    "good great bad nice terrible awful amazing awesome cool fine perfect horrible real "
    "total big huge matter question gift blessing curse trap lie myth mystery thing no "
    "non"
)
MAX_DEFINITION_WORDS = 60


def _definition(sentence: Sentence, source: Source) -> Fact | None:
    """A definition: "Kubernetes is a container orchestrator", "K8s means Kubernetes", "API
    stands for ...". The subject must open the sentence and be one to four words naming a
    thing (not a pronoun, not "the problem"), and "is" must be followed by "a"/"an", so that
    "it is raining", "this is fine" or "the build is a mess" define nothing."""
    if sentence.question:
        return None
    text = _OPENING.sub("", sentence.text, count=1)
    match = _DEFINITION.match(text)
    if not match:
        return None
    subject, verb, rest = match["subject"], match["verb"], match["rest"].strip()
    verb = " ".join(verb.lower().split())
    words = [_word(w).split("'")[0] for w in subject.split()]
    if (
        words[0] in NOT_A_SUBJECT
        or any(w in NOT_IN_SUBJECT or not w for w in words)
        or any(c in subject for c in ',;:()"')
        or len(_words(rest)) > MAX_DEFINITION_WORDS
    ):
        return None
    rest_words = [_word(w) for w in _words(rest)]
    if verb in {"is", "are"}:
        if len(rest_words) < 2 or rest_words[0] not in {"a", "an"}:
            return None
        if rest_words[1] in NOT_A_DEFINITION:
            return None
    term = re.sub(r"^(?:an?)\s+", "", subject, flags=re.IGNORECASE)
    key = normalize_key(term)
    if not key or not _value(rest):
        return None
    value = rest.rstrip(" .,;:!")
    if verb in {"is", "are"}:  # "IS A container": the article is not part of the shouting
        value = value[0].lower() + value[1:]
    return Fact(f"definition {key}", _sentence(f"{subject} {verb} {value}"), value, source)


# --- Extracting -----------------------------------------------------------------------------


def extract_facts(user_input: str, ai_response: str = "") -> list[Fact]:
    """The facts one exchange states, the user's first, each key and value at most once.

    The user's message gives facts about the user, notes to keep and definitions. The AI's
    answer gives definitions only: its "I" is the AI, and its "note that" is a figure of
    speech, not a request. An answer that is an error, a timeout or an "I don't know" gives
    nothing (see ``is_knowledge``), while the question beside it still does.
    """
    found = list(_from_user(_clean(user_input)))
    if is_knowledge(ai_response):
        found += [
            fact
            for sentence in split_sentences(_clean(ai_response))
            if (fact := _definition(sentence, "ai"))
        ]
    return _unique(found)


def _from_user(text: str) -> Iterator[Fact]:
    """Per sentence: a note, or else a definition, and the user's facts about themselves. A
    note whose words state such a fact ("remember that my name is Ada") is stored as that
    fact alone, which has a proper slot, rather than twice."""
    for sentence in split_sentences(text):
        note = _note(sentence)
        if note:
            personal = _personal(Sentence(note[1], question=False))
            yield from personal or [note[0]]
            continue
        if definition := _definition(sentence, "user"):
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
