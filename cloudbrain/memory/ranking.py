"""How recall orders what it found: plain arithmetic over plain data, explainable.

Lexical and semantic matches are fused by reciprocal rank (robust to their different score
scales), then nudged by importance and by recency (a half-life decay), so that among equally
relevant memories the important and the recent come first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

RRF_K = 60  # the usual constant: how much the first ranks dominate
HALF_LIFE_DAYS = 30.0
IMPORTANCE_WEIGHT = 0.5
RECENCY_WEIGHT = 0.25
MIN_SIMILARITY = 0.15  # below this a vector match is noise, not a match


@dataclass(frozen=True)
class Candidate:
    seq: int
    lexical_rank: int | None  # 0 = best full-text match; None = no full-text match
    similarity: float | None  # cosine similarity to the query; None = no comparable vector
    importance: float
    created_at: datetime


@dataclass(frozen=True)
class Scored:
    seq: int
    score: float
    why: dict[str, float]


def rank(candidates: list[Candidate], now: datetime, limit: int) -> list[Scored]:
    by_similarity = sorted(
        (c for c in candidates if c.similarity is not None and c.similarity >= MIN_SIMILARITY),
        key=lambda c: -(c.similarity or 0.0),
    )
    semantic_rank = {c.seq: i for i, c in enumerate(by_similarity)}
    scored = []
    for c in candidates:
        relevance = 0.0
        if c.lexical_rank is not None:
            relevance += 1 / (RRF_K + c.lexical_rank)
        if c.seq in semantic_rank:
            relevance += 1 / (RRF_K + semantic_rank[c.seq])
        if relevance == 0:
            continue  # neither kind of match: not an answer, however recent
        age_days = max(0.0, (now - c.created_at).total_seconds() / 86400)
        recency = 0.5 ** (age_days / HALF_LIFE_DAYS)
        score = relevance * (1 + IMPORTANCE_WEIGHT * c.importance) * (1 + RECENCY_WEIGHT * recency)
        why = {"relevance": relevance, "importance": c.importance, "recency": recency}
        if c.similarity is not None:
            why["similarity"] = c.similarity
        scored.append(Scored(c.seq, score, why))
    scored.sort(key=lambda s: -s.score)
    return scored[:limit]
