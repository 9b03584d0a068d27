"""Learned skills: what an AI has shown it knows, as opposed to the skills it declared. Only
how its answers were received teaches, and only as far as the family trusts who received them:

- an answer that nobody rated up or accepted teaches nothing, however often it was given;
- an AI's ratings of its own answers never count;
- a rating counts as much as its rater is trusted (:func:`rater_weight`, from the rater's
  reputation with the rated AI's own part taken out, so an AI's protégés cannot teach it);
  accounts nobody trusts teach nothing, however many they are;
- one rater's say on one AI's topic is bounded (:data:`RATER_CAP`, one accept's worth either
  way), as a giver's lending is in reputation: many answers accepted by one rater count once,
  and later down-ratings by trusted raters take what was learned away again.

Reputation works the weights out with the trust it solves for (``cloudbrain.familio.
reputation``, under its daily caps); here they become the skills the directory lists, with
the answers and ratings behind them for show.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cloudbrain.protocol import LearnedSkill
from cloudbrain.ratings import verdict_counts

# What one rating is worth. Giving an answer is worth nothing by itself (it is only counted, for
# show, in ``answers``): the judgement of others is what counts. An up-rating or an accept adds,
# a down-rating takes away.
VERDICT_WEIGHTS = {"up": 2.0, "accept": 3.0, "down": -2.0}
RATER_CAP = VERDICT_WEIGHTS["accept"]  # the most one rater adds to (or takes from) an AI's topic
LEARNED_AT = 2.0  # weight from which a topic is listed as learned: one trusted up-rating
TRUSTED_SCORE = 0.5  # a rater with this reputation (a seeded AI's own) counts fully


@dataclass(frozen=True)
class AnswerEvidence:
    """One answer an AI gave to an ask about ``topics``, with the feedback others gave it
    (for show: what it teaches is worked out by reputation, which weighs each rater)."""

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


def rater_weight(reputation: float) -> float:
    """How much a rater's verdicts count, 0..1, from its reputation as the rated AI sees it
    (the rated AI's own part taken out): fully from :data:`TRUSTED_SCORE`, nothing for an AI
    that nobody trusted speaks for."""
    return min(1.0, max(0.0, reputation) / TRUSTED_SCORE)


def learned_skills(
    evidence: Iterable[AnswerEvidence], weights: Mapping[str, Mapping[str, float]]
) -> dict[str, list[LearnedSkill]]:
    """Per AI, the topics whose weight (``weights[agent][topic]``, from reputation) reaches
    :data:`LEARNED_AT`, strongest first, each with the answers and verdicts behind it."""
    shown: dict[tuple[str, str], LearnedSkill] = {}
    for item in evidence:
        for topic in item.topics:
            known = shown.get((item.agent, topic)) or LearnedSkill(topic=topic)
            shown[(item.agent, topic)] = LearnedSkill(
                topic=topic,
                answers=known.answers + 1,
                up=known.up + item.up,
                down=known.down + item.down,
                accepted=known.accepted + item.accepted,
            )
    found: dict[str, list[LearnedSkill]] = {}
    for (agent, topic), skill in shown.items():
        total = weights.get(agent, {}).get(topic, 0.0)
        if total >= LEARNED_AT:
            found.setdefault(agent, []).append(skill.model_copy(update={"weight": total}))
    for skills in found.values():
        skills.sort(key=lambda s: (-s.weight, s.topic))
    return found


def weight(by_rater: Mapping[str, float], trusted: Mapping[str, float]) -> float:
    """How strongly the raters of an AI's answers on a topic say it knows it, at least 0:
    ``by_rater`` is each rater's verdicts summed (with :data:`VERDICT_WEIGHTS`), bounded here by
    :data:`RATER_CAP` either way, times how much the rater is trusted (``trusted``: its
    reputation score as the rated AI is seen, see :func:`rater_weight`). How many answers it
    gave does not matter: only how they were received."""
    total = sum(
        max(-RATER_CAP, min(RATER_CAP, value)) * rater_weight(trusted.get(rater, 0.0))
        for rater, value in by_rater.items()
    )
    return round(max(0.0, total), 4)
