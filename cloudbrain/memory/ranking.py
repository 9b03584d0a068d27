"""How recall orders what it found: plain arithmetic over plain data, explainable.

A memory's relevance is its meaning's closeness to the question (cosine similarity of their
embeddings) plus a share of its full-text score (BM25, divided by the best one among the
candidates, so 1.0 for the best full-text match). Scores are added, not ranks: with reciprocal
rank fusion, the first and the tenth of either list come out almost alike, and whatever came
next decided the order. Importance and recency only break near-ties: together they move a
memory by at most :data:`TIE_BREAK`, less than any real difference in relevance.

How much the words count depends on the embedder. With a semantic model, similarity is the
better evidence: on the development half of ``bench.recall``'s questions (worded unlike their
answers, among distractors that share their words) any weight on words lowered recall (0.15:
recall@1 0.49, 0.05: 0.65, 0: 0.67), so words only nudge (:data:`SEMANTIC_LEXICAL_WEIGHT`,
0.02: recall@1 unchanged, one question fewer in the top 5), enough to put the memory with the
question's exact name or number first among equally close ones. Full-text search still brings
its matches into the candidates, whose similarity is then computed. The hashing embedder only
sees words and fragments itself, so there full text leads (:data:`HASHING_LEXICAL_WEIGHT`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

HALF_LIFE_DAYS = 30.0
TIE_BREAK = 0.005  # the most importance and recency together can add
SEMANTIC_LEXICAL_WEIGHT = 0.02
HASHING_LEXICAL_WEIGHT = 1.0
MIN_SIMILARITY = 0.15  # below this a vector match is noise, not a match


@dataclass(frozen=True)
class Candidate:
    seq: int
    lexical: float | None  # BM25 score of a full-text match; None = no full-text match
    similarity: float | None  # cosine similarity to the query; None = no comparable vector
    importance: float
    created_at: datetime


@dataclass(frozen=True)
class Scored:
    seq: int
    score: float
    why: dict[str, float]


def lexical_weight(embedder: str | None) -> float:
    """How much a full-text match counts beside similarity, for vectors of ``embedder``."""
    if embedder is None or embedder.startswith("hashing"):
        return HASHING_LEXICAL_WEIGHT
    return SEMANTIC_LEXICAL_WEIGHT


def rank(
    candidates: list[Candidate], now: datetime, limit: int, lexical_weight: float
) -> list[Scored]:
    best_lexical = max((c.lexical for c in candidates if c.lexical), default=0.0)
    scored = []
    for c in candidates:
        lexical = (c.lexical or 0.0) / best_lexical if best_lexical else 0.0
        similar = c.similarity is not None and c.similarity >= MIN_SIMILARITY
        if not similar and c.lexical is None:
            continue  # neither kind of match: not an answer, however recent
        similarity = max(0.0, c.similarity or 0.0)
        relevance = similarity + lexical_weight * lexical
        age_days = max(0.0, (now - c.created_at).total_seconds() / 86400)
        recency = 0.5 ** (age_days / HALF_LIFE_DAYS)
        score = relevance + TIE_BREAK * (c.importance + recency) / 2
        why = {
            "relevance": round(relevance, 6),
            "lexical": round(lexical, 6),
            "importance": c.importance,
            "recency": round(recency, 6),
        }
        if c.similarity is not None:
            why["similarity"] = c.similarity
        scored.append(Scored(c.seq, score, why))
    scored.sort(key=lambda s: -s.score)
    return scored[:limit]


T = TypeVar("T")

# How much further from the question than an AI's closest memory another of its memories may
# be and still be quoted in its answer.
BESIDE_THE_BEST = 0.15


def beside_the_best(similarity: float | None, best: float | None) -> bool:
    """Whether a memory goes into an answer beside the AI's closest one: only when it is nearly
    as close. A note on the same subject that does not answer the question ("liveness probes"
    beside "kubectl rollout undo" for a rollback) is left out."""
    return similarity is None or best is None or similarity >= best - BESIDE_THE_BEST


def closest_together(found: Sequence[T], similarity: Callable[[T], float | None]) -> list[T]:
    """Of memories found for a question, best first, those :func:`beside_the_best` the
    closest of them."""
    known = [s for item in found if (s := similarity(item)) is not None]
    best = max(known, default=None)
    return [item for item in found if beside_the_best(similarity(item), best)]
