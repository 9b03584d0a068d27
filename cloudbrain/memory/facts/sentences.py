"""Text as the rules read it: cleaned, cut into sentences and clauses, word by word."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from cloudbrain.memory.facts.keys import fold

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u201c": '"'})
_QUOTES_MORE = str.maketrans({"\u201d": '"', "\u00a0": " "})


def clean(text: str) -> str:
    """One form for the many ways people type the same thing: compatibility characters
    (full-width letters, ligatures) unified, curly quotes straightened, no zero-width marks."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).translate(_QUOTES_MORE)
    text = text.replace("**", "").replace("`", "")
    return "".join(c for c in text if c in "\n\t" or unicodedata.category(c)[0] != "C")


def word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


def bare_word(text: str) -> str:
    """The folded bare form of one word, for comparing against word lists."""
    return fold(text.strip(".,;:!?\"'()[]{}"))


def words_of(text: str) -> list[str]:
    return text.split()


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
QUESTION_WORDS = word_set(
    "what whats who whom whose where when why how which do does did is are am was were "
    "can could would should will shall may have has dont doesnt isnt arent right ok okay"
)


def clauses(sentence: Sentence) -> list[str]:
    """The sentence's clauses that state something. A question's last clause is its question
    ("I like tea, do you?", "My name is Ada?"), and any clause opening with a question word
    asks; both are left out. Spaces come back single: the patterns then never try the many
    ways of splitting a long run of them."""
    text = " ".join(sentence.text.split())
    parts = [p.strip() for p in _CLAUSE_BREAK.split(text) if p and p.strip()]
    if not sentence.question:
        return parts
    return [p for p in parts[:-1] if bare_word(p.split()[0]).replace("'", "") not in QUESTION_WORDS]


# What may open a clause before the words a pattern is anchored on ("so I like tea", "oh and
# my name is Ada", "Actually, remember that ..."), for the patterns to allow and skip: each
# word followed by a space or by punctuation ("Actually," "OK:" "Oh -").
FILLER = (
    r"(?:(?:hi|hello|hey|well|oh|ok|okay|so|and|also|yes|yeah|btw|anyway|actually|honestly"
    r"|by\s+the\s+way|fyi|oh\s+and|just\s+so\s+you\s+know)"
    r"(?:\s*[,!:\u2013\u2014]\s*|\s+-\s+|\s+))*"
)
