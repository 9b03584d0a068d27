"""Reputation as the database keeps it: the scores last worked out (``reputation``), and the
rows they are worked out from (active AIs, endorsements, ratings of answers, the owner's
trust), read together so that one working-out sees one state of the family.

How scores follow from that evidence, and when to work them out again, is Familio's
(:mod:`cloudbrain.familio.reputation`, :mod:`cloudbrain.familio.standing`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.db.engine import write_transaction
from cloudbrain.db.models import (
    agents,
    ask_answers,
    asks,
    endorsements,
    feedback,
    owner_trust,
    reputation,
    social_events,
)
from cloudbrain.protocol import ReputationInfo, ScorePart


@dataclass(frozen=True)
class Marks:
    """Counters that move whenever something reputation is worked out from changes: the
    newest social event, the ratings, the active AIs. Equal marks: nothing changed."""

    last_event: int | None
    ratings: int
    last_rating: datetime | None
    active_agents: int
    last_agent: datetime | None


@dataclass(frozen=True)
class EndorsementRow:
    endorser: str
    agent: str
    skill: str
    since: datetime


@dataclass(frozen=True)
class RatingRow:
    """One rating of an answer as given (ratings are append-only), with who gave the answer
    and the topics of the ask it answered."""

    answer: str
    rater: str
    verdict: str
    at: datetime
    author: str
    topics: tuple[str, ...]
    knows: bool  # the answer knew something (an "I don't know" teaches no skill)


@dataclass(frozen=True)
class Inputs:
    """Everything reputation is worked out from."""

    created: dict[str, datetime]  # every active AI, with when it was made
    endorsements: list[EndorsementRow]  # as they stand
    ratings: list[RatingRow]  # every rating, oldest first
    trust: dict[str, float]  # the owner's trust


class ReputationStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def marks(self) -> Marks:
        async with self.engine.connect() as conn:
            last_event = await conn.scalar(select(func.max(social_events.c.seq)))
            ratings, last_rating = (
                await conn.execute(select(func.count(), func.max(feedback.c.created_at)))
            ).one()
            active, last_agent = (
                await conn.execute(
                    select(func.count(), func.max(agents.c.created_at)).where(
                        agents.c.revoked_at.is_(None)
                    )
                )
            ).one()
        return Marks(last_event, ratings, last_rating, active, last_agent)

    async def inputs(self) -> Inputs:
        async with self.engine.connect() as conn:
            created = {
                name: at
                for name, at in await conn.execute(
                    select(agents.c.name, agents.c.created_at).where(agents.c.revoked_at.is_(None))
                )
            }
            endorsed = [
                EndorsementRow(*row)
                for row in await conn.execute(
                    select(
                        endorsements.c.endorser,
                        endorsements.c.agent,
                        endorsements.c.skill,
                        endorsements.c.since,
                    )
                )
            ]
            ratings = [
                RatingRow(answer, rater, verdict, at, author, tuple(topics), knows)
                for answer, rater, verdict, at, author, topics, knows in await conn.execute(
                    select(
                        feedback.c.answer_id,
                        feedback.c.rater,
                        feedback.c.verdict,
                        feedback.c.created_at,
                        ask_answers.c.agent,
                        asks.c.topics,
                        ask_answers.c.knows,
                    )
                    .join(ask_answers, ask_answers.c.id == feedback.c.answer_id)
                    .join(asks, asks.c.id == feedback.c.ask_id)
                    .order_by(feedback.c.created_at, feedback.c.id)
                )
            ]
            trust = {
                agent: weight
                for agent, weight in await conn.execute(
                    select(owner_trust.c.agent, owner_trust.c.weight)
                )
            }
        return Inputs(created, endorsed, ratings, trust)

    async def replace(self, scores: Mapping[str, Sequence[ReputationInfo]]) -> bool:
        """Everyone's scores (per AI, its scores) in place of the last ones; False when another
        server node of the cluster saved its own at the same moment, which then stand."""
        rows = [
            {
                "agent": agent,
                "skill": score.skill,
                "score": score.score,
                "trust": score.trust,
                "parts": [part.model_dump() for part in score.parts],
                "waiting": score.waiting,
                "learned": score.learned,
                "computed_at": score.computed_at,
            }
            for agent, found in scores.items()
            for score in found
        ]
        try:
            async with write_transaction(self.engine) as conn:
                await conn.execute(delete(reputation))
                if rows:
                    await conn.execute(reputation.insert(), rows)
        except IntegrityError:
            return False
        return True

    # --- reads --------------------------------------------------------------------------------

    async def scores(self) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
        """As last worked out, per AI and skill ("" for the global score): the scores, and the
        weight learned of each skill where there is any."""
        scores: dict[str, dict[str, float]] = {}
        learned: dict[str, dict[str, float]] = {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(
                    reputation.c.agent, reputation.c.skill, reputation.c.score, reputation.c.learned
                )
            )
            for agent, skill, score, weight in rows:
                scores.setdefault(agent, {})[skill] = score
                if weight > 0:
                    learned.setdefault(agent, {})[skill] = weight
        return scores, learned

    async def of(self, agent: str) -> list[ReputationInfo]:
        """An AI's scores with their parts: the global one first, then skills, best first."""
        async with self.engine.connect() as conn:
            rows = (
                (await conn.execute(select(reputation).where(reputation.c.agent == agent)))
                .mappings()
                .all()
            )
        found = [
            ReputationInfo(
                skill=row["skill"],
                score=row["score"],
                trust=row["trust"],
                parts=[ScorePart.model_validate(p) for p in row["parts"]],
                waiting=row["waiting"],
                learned=row["learned"],
                computed_at=row["computed_at"],
            )
            for row in rows
        ]
        return sorted(found, key=lambda r: (r.skill != "", -r.score, r.skill))
