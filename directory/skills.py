"""Learned skills: what an AI has shown it knows, from the answers it gave and how they were
received, as opposed to the skills it declared."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from cloudbrain.protocol import LearnedSkill

# What one piece of evidence is worth. An answer counts a little; the asker's judgement counts
# more, and a rejection takes credit away.
ANSWER_WEIGHT = 1.0
UP_WEIGHT = 2.0
ACCEPT_WEIGHT = 3.0
DOWN_WEIGHT = -2.0
LEARNED_AT = 2.0  # weight from which a topic is listed as learned


@dataclass(frozen=True)
class AnswerEvidence:
    """One answer an AI gave to an ask about ``topics``, with the feedback it received."""

    agent: str
    topics: tuple[str, ...]
    up: int = 0
    down: int = 0
    accepted: int = 0


T = TypeVar("T")


def learned_skills(evidence: Iterable[AnswerEvidence]) -> dict[str, list[LearnedSkill]]:
    """Per AI, the topics whose evidence reaches :data:`LEARNED_AT`, strongest first."""
    totals: dict[tuple[str, str], LearnedSkill] = {}
    for item in evidence:
        for topic in item.topics:
            known = totals.get((item.agent, topic)) or LearnedSkill(topic=topic)
            totals[(item.agent, topic)] = LearnedSkill(
                topic=topic,
                answers=known.answers + 1,
                up=known.up + item.up,
                down=known.down + item.down,
                accepted=known.accepted + item.accepted,
            )
    found: dict[str, list[LearnedSkill]] = {}
    for (agent, _), skill in totals.items():
        scored = skill.model_copy(update={"weight": weight(skill)})
        if scored.weight >= LEARNED_AT:
            found.setdefault(agent, []).append(scored)
    for skills in found.values():
        skills.sort(key=lambda s: (-s.weight, s.topic))
    return found


def weight(skill: LearnedSkill) -> float:
    return max(
        0.0,
        ANSWER_WEIGHT * skill.answers
        + UP_WEIGHT * skill.up
        + ACCEPT_WEIGHT * skill.accepted
        + DOWN_WEIGHT * skill.down,
    )


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
