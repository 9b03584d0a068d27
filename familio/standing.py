"""Reputation in the database: the evidence read from the tables, the scores worked out by
:mod:`cloudbrain.familio.reputation` and stored in ``reputation`` for everyone to read.

The server refreshes it on a schedule, never while answering a request: :meth:`refresh` looks
at a few counters first and works everything out again only when something changed (an
endorsement, a rating, the owner's trust, an AI joining or leaving, or a new day, which lets
evidence held back by the daily caps count).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

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
from cloudbrain.db.types import utcnow
from cloudbrain.familio.reputation import Evidence, Reputation, compute
from cloudbrain.protocol import ReputationInfo, ScorePart
from cloudbrain.ratings import latest_ratings

log = logging.getLogger(__name__)


class Standing:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._seen: tuple[Any, ...] | None = None

    async def refresh(self, now: datetime | None = None) -> bool:
        """Work reputation out again if anything it depends on changed; True when it did."""
        now = now or utcnow()
        seen = await self._fingerprint(now)
        if seen == self._seen:
            return False
        created, evidence, trust = await self.inputs()
        result = await asyncio.to_thread(compute, created, evidence, trust, now)
        try:
            await self.save(result, now)
        except IntegrityError:
            # Another server node of the cluster saved the same scores at the same moment.
            log.debug("reputation was saved by another node meanwhile")
        self._seen = seen
        log.info(
            "reputation of %d AIs worked out from %d pieces of evidence (%d rounds, seeded by %s)",
            len(created),
            len(evidence),
            result.rounds,
            result.seeded_by,
        )
        return True

    async def _fingerprint(self, now: datetime) -> tuple[Any, ...]:
        async with self.engine.connect() as conn:
            events = (await conn.execute(select(func.max(social_events.c.seq)))).scalar()
            ratings = (
                await conn.execute(select(func.count(), func.max(feedback.c.created_at)))
            ).one()
            family = (
                await conn.execute(
                    select(func.count(), func.max(agents.c.created_at)).where(
                        agents.c.revoked_at.is_(None)
                    )
                )
            ).one()
        return (events, tuple(ratings), tuple(family), now.date())

    async def inputs(self) -> tuple[dict[str, datetime], list[Evidence], dict[str, float]]:
        """Every active AI with the time it was made, every piece of evidence (endorsements as
        they stand, and each rater's latest verdict on each answer), and the owner's trust."""
        async with self.engine.connect() as conn:
            created = {
                name: at
                for name, at in await conn.execute(
                    select(agents.c.name, agents.c.created_at).where(agents.c.revoked_at.is_(None))
                )
            }
            evidence = [
                Evidence(giver, receiver, "endorse", (skill,), since)
                for giver, receiver, skill, since in await conn.execute(
                    select(
                        endorsements.c.endorser,
                        endorsements.c.agent,
                        endorsements.c.skill,
                        endorsements.c.since,
                    )
                )
            ]
            ratings = [
                (answer_id, rater, (author, verdict, tuple(topics), at))
                for answer_id, rater, verdict, at, author, topics in await conn.execute(
                    select(
                        feedback.c.answer_id,
                        feedback.c.rater,
                        feedback.c.verdict,
                        feedback.c.created_at,
                        ask_answers.c.agent,
                        asks.c.topics,
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
        evidence += [
            Evidence(rater, author, verdict, topics, at)
            for (_, rater), (author, verdict, topics, at) in latest_ratings(ratings).items()
        ]
        return created, evidence, trust

    async def save(self, result: Reputation, now: datetime) -> None:
        rows = [
            {
                "agent": score.agent,
                "skill": score.skill,
                "score": score.score,
                "trust": score.trust,
                "parts": [
                    {"source": p.source, "kinds": list(p.kinds), "share": p.share}
                    for p in score.parts
                ],
                "waiting": score.waiting,
                "computed_at": now,
            }
            for by_skill in result.scores.values()
            for score in by_skill.values()
        ]
        async with write_transaction(self.engine) as conn:
            await conn.execute(delete(reputation))
            if rows:
                await conn.execute(reputation.insert(), rows)

    # --- reads --------------------------------------------------------------------------------

    async def scores(self) -> dict[str, dict[str, float]]:
        """Per AI, per skill ("" for the global score), as last worked out."""
        found: dict[str, dict[str, float]] = {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(reputation.c.agent, reputation.c.skill, reputation.c.score)
            )
            for agent, skill, score in rows:
                found.setdefault(agent, {})[skill] = score
        return found

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
                computed_at=row["computed_at"],
            )
            for row in rows
        ]
        return sorted(found, key=lambda r: (r.skill != "", -r.score, r.skill))
