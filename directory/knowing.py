"""Whether an answer shows knowledge of its question: the relevance floor, and why the AIs
considered for an ask fell short of it.

An answer is offered only when its meaning is close enough to the question's: the cosine
similarity of their embeddings reaches the floor of the embedder that made them. Below it,
what an AI stored or said shares words or a neighbourhood with the question, not an answer
("bread" and a readiness probe, "backing up" photos and pg_dump), and the ask says that nobody
knows rather than offering the nearest noise.

A floor only means something for the model it was measured on. For the shipped model it was
chosen on the development half of ``bench.ask_questions`` (on-topic questions and their
memories: 0.34 at the lowest; questions nobody in the demo family can answer: 0.29 at the
highest), halfway between. Hashing has no floor: it matches fragments of words, and no value
separates right from wrong with it. Nor has a model nobody measured.
"""

from __future__ import annotations

import re

MAX_PASSAGES = 3  # sentences of an answer compared with the question, besides the whole
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
FLOORS = {"onnx:all-MiniLM-L6-v2-int8": 0.31}


def floor_for(embedder: str | None) -> float:
    """The least similarity to the question that counts as knowing, for vectors of
    ``embedder`` (0.0: no floor)."""
    return FLOORS.get(embedder or "", 0.0)


def passages(text: str) -> list[str]:
    """What of an answer is compared with the question: the whole text and its first
    sentences. An answer is as close as its closest passage: a right answer wrapped in an
    introduction ("From what I stored on the laptop: ...") or beside other notes is still
    right, and its whole text, diluted, would look further away than it is."""
    sentences = [s.strip() for s in _SENTENCE.split(text) if s.strip()]
    return [text, *sentences[:MAX_PASSAGES]] if len(sentences) > 1 else [text]


def knows(similarity: float | None, floor: float) -> bool:
    return floor <= 0.0 or (similarity is not None and similarity >= floor)


def not_about(similarity: float, floor: float) -> str:
    return f"its answer is not about the question (closeness {similarity:.2f}, needs {floor:.2f})"


def nothing_close(best: float | None, floor: float) -> str:
    if best is None:
        return "nothing it stored matches the question"
    return f"nothing it stored is close enough (best {best:.2f}, needs {floor:.2f})"


SAID_NO = "said it does not know"
NO_ANSWER = "did not answer in time, and nothing it stored matches the question"
