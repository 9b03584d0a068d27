"""What a pattern captured, trimmed to the thing it names and told in the third person."""

from __future__ import annotations

import re

from cloudbrain.memory.facts.sentences import bare_word, word_set, words_of

_VALUE_CUT = re.compile(
    r"\s+(?:because|since|but|though|although|unless|which|whereas|while|until|when|so that"
    r"|if|as long as|like i said)\b.*$",
    re.IGNORECASE,
)
_VALUE_TAIL = re.compile(
    r"(?:\s+(?:too|as well|a lot|very much|so much|btw|by the way|though|anyway|now|right now"
    r"|these days|nowadays|currently|at the moment|lately|for now|already|anymore|any more))+$",
    re.IGNORECASE,
)
_FIRST_PERSON = {"my": "their", "mine": "theirs", "myself": "themselves", "me": "them"}
_FIRST_PERSON_WORD = re.compile(r"\b(?:my|mine|myself|me)\b", re.IGNORECASE)


def trim_value(text: str) -> str:
    """The value a pattern captured, without what follows it ("Berlin since 2020" -> "Berlin")
    and without trailing chatter ("tea too" -> "tea")."""
    text = _VALUE_CUT.sub("", text.strip())
    text = _VALUE_TAIL.sub("", text)
    return text.strip(" \t.,;:!?\"'")


def third_person(text: str) -> str:
    """The user's words as a fact about the user: "my dog" -> "their dog"."""
    return _FIRST_PERSON_WORD.sub(lambda m: _FIRST_PERSON[m[0].lower()], text)


# Objects that point at the conversation rather than name a thing ("I like it", "I love how
# you did that"): a fact about them would mean nothing when recalled.
NOT_AN_OBJECT = word_set(
    "it its this that these those them him her you your yours me us one ones everything "
    "something nothing anything everyone someone anyone nobody how what when where why "
    "which who whom whether if so too very much more less most here there both either "
    "neither such myself yourself to a an the not and or but all some any lot lots being "
    "because"
)


def object_of(text: str, max_words: int) -> str | None:
    """The object of a preference, or None when it is a pronoun, a clause or too long to be a
    thing. "the" alone is not enough to refuse ("the sea"), only as "the way ..."."""
    value = trim_value(text)
    words = words_of(value)
    if not words or len(words) > max_words:
        return None
    first = bare_word(words[0])
    if first == "the" and len(words) > 1 and bare_word(words[1]) not in {"way", "fact", "idea"}:
        return value
    if first in NOT_AN_OBJECT or not any(c.isalnum() for c in value):
        return None
    return value
