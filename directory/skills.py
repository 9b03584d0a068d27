"""Learned skills: what an AI has shown it knows, as opposed to the skills it declared. Only
how its answers were received teaches: an answer that nobody rated up or accepted teaches
nothing, however often it was given, and an AI's ratings of its own answers never count."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cloudbrain.protocol import LearnedSkill
from cloudbrain.ratings import verdict_counts

# What one rating is worth. Giving an answer is worth nothing by itself (it is only counted, for
# show, in ``answers``): the judgement of others is what counts. An up-rating or an accept adds,
# a down-rating takes away.
UP_WEIGHT = 2.0
ACCEPT_WEIGHT = 3.0
DOWN_WEIGHT = -2.0
LEARNED_AT = 2.0  # weight from which a topic is listed as learned: one up-rating or accept


@dataclass(frozen=True)
class AnswerEvidence:
    """One answer an AI gave to an ask about ``topics``, with the feedback others gave it."""

    agent: str
    topics: tuple[str, ...]
    up: int = 0
    down: int = 0
    accepted: int = 0


def answer_evidence(
    answers: Iterable[tuple[str, str, Iterable[str]]],
    ratings: Iterable[tuple[str, str, str]],
) -> list[AnswerEvidence]:
    """The evidence of ``answers`` ((answer, author, topics of its ask)) given ``ratings``
    ((answer, rater, verdict), oldest first): per answer and verdict, how many raters' latest
    rating it is. A rating by the answer's own author (an AI that rated or accepted its own
    answer, say to an ask it put to itself) is left out."""
    answers = list(answers)
    authors = {answer: author for answer, author, _ in answers}
    verdicts = verdict_counts(
        (answer, rater, verdict)
        for answer, rater, verdict in ratings
        if rater != authors.get(answer)
    )
    return [
        AnswerEvidence(
            agent=author,
            topics=tuple(topics),
            up=verdicts.get(answer, {}).get("up", 0),
            down=verdicts.get(answer, {}).get("down", 0),
            accepted=verdicts.get(answer, {}).get("accept", 0),
        )
        for answer, author, topics in answers
    ]


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
    """How strongly the ratings of an AI's answers on a topic say it knows it, at least 0.
    How many answers it gave does not matter: only how they were received."""
    return max(
        0.0,
        UP_WEIGHT * skill.up + ACCEPT_WEIGHT * skill.accepted + DOWN_WEIGHT * skill.down,
    )
