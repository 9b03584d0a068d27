"""Turning the answers of an ask into one result: ranked, near-duplicates merged, summarized.

An answer's score is relevance x confidence x reputation: how close it is to the question
(computed by the server, by meaning and words), how sure its author was, and how much the
family trusts its author (neutral until the social layer rates AIs). Two answers that say
nearly the same (most of their words shared) become one, keeping the better and naming the
other authors, so five AIs repeating one fact do not bury a sixth with something new.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cloudbrain.memory.text import stem, words
from cloudbrain.protocol import AskAnswer

NEAR_DUPLICATE = 0.6  # Jaccard similarity of word sets from which two answers are one
SUMMARY_SENTENCES = 3
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def score(answer: AskAnswer) -> float:
    if not answer.knows:
        return 0.0
    return round(answer.relevance * answer.confidence * (0.5 + answer.reputation), 6)


def word_set(text: str) -> frozenset[str]:
    return frozenset(stem(w) for w in words(text))


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def aggregate(answers: Sequence[AskAnswer]) -> list[AskAnswer]:
    """Answers that know something, scored, near-duplicates merged, best first; answers that
    do not know come last, unscored."""
    scored = sorted(
        (a.model_copy(update={"score": score(a)}) for a in answers),
        key=lambda a: (not a.knows, -a.score, a.at),
    )
    kept: list[tuple[AskAnswer, frozenset[str]]] = []
    for answer in scored:
        own = word_set(answer.text)
        twin = next(
            (
                i
                for i, (k, w) in enumerate(kept)
                if k.knows and similarity(w, own) >= NEAR_DUPLICATE
            ),
            None,
        )
        if answer.knows and twin is not None:
            better, words_of = kept[twin]
            also = [*better.also, *([answer.agent] if answer.agent != better.agent else [])]
            kept[twin] = (better.model_copy(update={"also": sorted(set(also))}), words_of)
        else:
            kept.append((answer, own))
    return [answer for answer, _ in kept]


def summarize(ranked: Sequence[AskAnswer], sentences: int = SUMMARY_SENTENCES) -> str:
    """An extractive summary: the first sentences of the best answers, each said once."""
    chosen: list[str] = []
    seen: list[frozenset[str]] = []
    for answer in ranked:
        if not answer.knows:
            continue
        for sentence in _SENTENCE.split(answer.text.strip()):
            sentence = sentence.strip().removeprefix("- ").strip()
            own = word_set(sentence)
            if sentence.endswith(":") or not own:
                continue  # an introduction ("Here is what I remember:"), not content
            if any(similarity(own, s) >= NEAR_DUPLICATE for s in seen):
                continue
            chosen.append(f"{sentence} ({answer.agent})")
            seen.append(own)
            break  # one sentence per answer, so the summary spans several sources
        if len(chosen) == sentences:
            break
    return " ".join(chosen)


def relevance(question: str, answer: str, cosine: float | None) -> float:
    """How close an answer is to its question: the share of the question's words it uses,
    averaged with the cosine similarity of their embeddings when there is one."""
    asked = word_set(question)
    overlap = len(asked & word_set(answer)) / len(asked) if asked else 0.0
    if cosine is None:
        return round(overlap, 4)
    return round(0.5 * max(0.0, cosine) + 0.5 * overlap, 4)
