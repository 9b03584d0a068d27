"""Which topics a question is about, in the family's own skill vocabulary.

A topic is a skill some AI declared (or an asker named): "python", "kubernetes", "machine
learning". A question is about a topic when every word of the topic's name appears in it, up
to simple word endings ("deploying" meets "deploy"). The vocabulary grows as AIs declare skills,
so nothing here needs training.
"""

from __future__ import annotations

from collections.abc import Iterable

from cloudbrain.memory.text import stem, words


def terms(topic: str) -> frozenset[str]:
    """The stems a question must contain to be about ``topic``."""
    return frozenset(stem(w) for w in words(topic.replace("-", " ").replace("_", " ")))


def normalize_topic(topic: str) -> str:
    return " ".join(topic.lower().replace("_", " ").replace("-", " ").split())


def classify(question: str, vocabulary: Iterable[str]) -> list[str]:
    """The topics of ``vocabulary`` the question is about, most specific (most words) first."""
    present = {stem(w) for w in words(question.replace("-", " ").replace("_", " "))}
    found = {
        normalize_topic(topic)
        for topic in vocabulary
        if (needed := terms(topic)) and needed <= present
    }
    return sorted(found, key=lambda t: (-len(t.split()), t))
