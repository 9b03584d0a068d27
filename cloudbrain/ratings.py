"""Ratings of answers are kept as they come (append-only); a rater's latest rating of an
answer is the one that counts. Shared by the readers of feedback and the rules built on it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def latest_ratings(ratings: Iterable[tuple[str, str, T]]) -> dict[tuple[str, str], T]:
    """Per (answer, rater), the rater's latest rating. ``ratings``: (answer, rater, rating),
    oldest first: a later rating by the same rater replaces the earlier."""
    return {(answer, rater): rating for answer, rater, rating in ratings}


def verdict_counts(ratings: Iterable[tuple[str, str, str]]) -> dict[str, dict[str, int]]:
    """Per answer, how many raters' latest rating is each verdict. ``ratings``: (answer,
    rater, verdict), oldest first."""
    counts: dict[str, dict[str, int]] = {}
    for (answer, _), verdict in latest_ratings(ratings).items():
        per_answer = counts.setdefault(answer, {})
        per_answer[verdict] = per_answer.get(verdict, 0) + 1
    return counts
