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
0.01; with crowding below, 0.02 cost two questions their first place and 0.01 none), enough
to put the memory with the question's exact name or number first among equally close ones.
Full-text search still brings its matches into the candidates, whose similarity is then
computed, but only memories with every word of the question: those with any of them
(thousands on a large store, the slowest part of a search) changed nothing on the development
half. The hashing embedder only sees words and fragments itself, so there full text leads
(:data:`HASHING_LEXICAL_WEIGHT`) and memories with any of the words are candidates too.

A memory that says what many others found for the same question also say is worth less than
one that stands apart, the way a common word counts for less than a rare one in BM25. Among the
candidates of one question, each memory's *crowding* is its mean similarity to the
:data:`CROWD` candidates closest to it (a copy of itself, :data:`SAME_THING` or closer, does
not count: a fact told twice is not commonplace), and :data:`CROWDING_WEIGHT` of it is taken
off its relevance. Routine notes that differ by a name or a number ("Pager for billing went off
12 times", "... for search went off 48 times") crowd each other; a fact about the same subject
in other words stands out. The whole crowd moves together, so which of its members comes first
does not change. Every candidate gets its crowding, those found by words too: one left out would
be ahead of the rest by its missing penalty. On the development half of ``bench.recall`` this
took recall@1 from 0.69 to 0.78 and recall@5 from 0.80 to 0.95 (weights 0.35 to 0.5 alike; 0.65
traded first places for top-5 ones); on questions about the routine memories themselves
(their own question, or the first two thirds of their text) recall@1 and @5 stayed within 0.03
of cosine similarity alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import numpy as np
import numpy.typing as npt

HALF_LIFE_DAYS = 30.0
TIE_BREAK = 0.005  # the most importance and recency together can add
SEMANTIC_LEXICAL_WEIGHT = 0.01
HASHING_LEXICAL_WEIGHT = 1.0
MIN_SIMILARITY = 0.15  # below this a vector match is noise, not a match
CROWD = 3  # how many of its closest fellow candidates a memory's crowding is measured against
SAME_THING = 0.98  # at least this similar: the same memory told again, not a crowd
CROWDING_WEIGHT = 0.5  # how much of its crowding a memory's relevance loses (semantic models)


@dataclass(frozen=True)
class Candidate:
    seq: int
    lexical: float | None  # BM25 score of a full-text match; None = no full-text match
    similarity: float | None  # cosine similarity to the query; None = no comparable vector
    importance: float
    created_at: datetime
    crowding: float = 0.0  # see crowding(); 0 when the memory has no comparable vector


@dataclass(frozen=True)
class Scored:
    seq: int
    score: float
    why: dict[str, float]


def semantic(embedder: str | None) -> bool:
    """Whether vectors of ``embedder`` carry meaning, not only words (hashing; None: none)."""
    return embedder is not None and not embedder.startswith("hashing")


def lexical_weight(embedder: str | None) -> float:
    """How much a full-text match counts beside similarity, for vectors of ``embedder``."""
    return SEMANTIC_LEXICAL_WEIGHT if semantic(embedder) else HASHING_LEXICAL_WEIGHT


def crowding_weight(embedder: str | None) -> float:
    """How much crowding costs, for vectors of ``embedder``: nothing when similarity is only
    shared words (hashing), where a crowd is a crowd of one word, not of one meaning."""
    return CROWDING_WEIGHT if semantic(embedder) else 0.0


def crowding(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """For each of the unit ``vectors`` (one row per candidate), its mean similarity to the
    :data:`CROWD` others closest to it, leaving out copies of itself (:data:`SAME_THING`)."""
    count = len(vectors)
    if count < 2:
        return np.zeros(count, dtype=np.float32)
    similar = vectors @ vectors.T
    similar[similar >= SAME_THING] = -np.inf  # itself (the diagonal) and what says the same
    crowd = min(CROWD, count - 1)
    closest = -np.partition(-similar, crowd - 1, axis=1)[:, :crowd]
    counted = np.isfinite(closest)
    total = np.where(counted, np.maximum(closest, 0.0), 0.0).sum(axis=1)
    mean: npt.NDArray[np.float32] = np.zeros(count, dtype=np.float32)
    np.divide(total, counted.sum(axis=1), out=mean, where=counted.any(axis=1), casting="unsafe")
    return mean


def rank(
    candidates: list[Candidate],
    now: datetime,
    limit: int,
    lexical_weight: float,
    crowding_weight: float = 0.0,
) -> list[Scored]:
    best_lexical = max((c.lexical for c in candidates if c.lexical), default=0.0)
    scored = []
    for c in candidates:
        lexical = (c.lexical or 0.0) / best_lexical if best_lexical else 0.0
        similar = c.similarity is not None and c.similarity >= MIN_SIMILARITY
        if not similar and c.lexical is None:
            continue  # neither kind of match: not an answer, however recent
        similarity = max(0.0, c.similarity or 0.0)
        relevance = similarity + lexical_weight * lexical - crowding_weight * c.crowding
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
        if crowding_weight and c.crowding:
            why["crowding"] = round(c.crowding, 6)
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
