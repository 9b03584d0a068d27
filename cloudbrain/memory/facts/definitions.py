"""Definitions: what a term is, means or stands for, from the user or the AI."""

from __future__ import annotations

import re

from cloudbrain.memory.facts.fact import Fact, Source
from cloudbrain.memory.facts.keys import normalize_key
from cloudbrain.memory.facts.sentences import Sentence, bare_word, word_set, words_of
from cloudbrain.memory.facts.values import trim_value

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
NOT_A_SUBJECT = word_set(
    "it its this that there here he she they we you i these those what which who whom "
    "whose where when why how my your our their his her one each every some any all no "
    "none nothing something everything anything everyone someone anyone nobody today "
    "tomorrow yesterday tonight now then mine yours ours theirs hers both either neither "
    "such another other the life maybe perhaps also so well yes no not if because but and "
    "or while although though still just thanks thank please hello hi hey ok okay sure "
    "time whatever whoever everybody somebody anybody someday sometimes e.g i.e eg ie"
)
# Words that give away a clause rather than a term anywhere in the subject.
NOT_IN_SUBJECT = word_set(
    "not really also always never still just actually definitely probably certainly truly "
    "is are was were be been do does did has have had will would can could should might "
    "must may think thought said says guess believe know i you we it he she they my your "
    "our if because that this"
)
# After "is a": judgements, amounts and figures of speech, not categories.
NOT_A_DEFINITION = word_set(
    "bit little lot few couple must pain mess joke shame pity nightmare disaster problem "
    "good great bad nice terrible awful amazing awesome cool fine perfect horrible real "
    "total big huge matter question gift blessing curse trap lie myth mystery thing no "
    "non"
)
MAX_DEFINITION_WORDS = 60


def definition_in(sentence: Sentence, source: Source) -> Fact | None:
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
    words = [bare_word(w).split("'")[0] for w in subject.split()]
    if (
        words[0] in NOT_A_SUBJECT
        or any(w in NOT_IN_SUBJECT or not w for w in words)
        or any(c in subject for c in ',;:()"')
        or len(words_of(rest)) > MAX_DEFINITION_WORDS
    ):
        return None
    rest_words = [bare_word(w) for w in words_of(rest)]
    if verb in {"is", "are"}:
        if len(rest_words) < 2 or rest_words[0] not in {"a", "an"}:
            return None
        if rest_words[1] in NOT_A_DEFINITION:
            return None
    term = re.sub(r"^(?:an?)\s+", "", subject, flags=re.IGNORECASE)
    key = normalize_key(term)
    if not key or not trim_value(rest):
        return None
    value = rest.rstrip(" .,;:!")
    if verb in {"is", "are"}:  # "IS A container": the article is not part of the shouting
        value = value[0].lower() + value[1:]
    return Fact(f"definition {key}", _sentence(f"{subject} {verb} {value}"), value, source)


def _sentence(text: str) -> str:
    """A fact's text: capitalized, one final full stop."""
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
