"""Reputation kept up to date: the evidence read from the database, the scores worked out by
:mod:`cloudbrain.familio.reputation` and stored for everyone to read
(:class:`cloudbrain.storage.reputation.ReputationStore`).

The server refreshes it on a schedule, never while answering a request: :meth:`refresh` looks
at a few counters first and works everything out again only when something changed (an
endorsement, a rating, the owner's trust, an AI joining or leaving, or a new day, which lets
evidence held back by the daily caps count).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime

from cloudbrain.db.types import utcnow
from cloudbrain.familio.reputation import Evidence, Reputation, Score, compute
from cloudbrain.protocol import ReputationInfo, ScorePart
from cloudbrain.ratings import latest_ratings
from cloudbrain.storage.reputation import Inputs, Marks, ReputationStore

log = logging.getLogger(__name__)


class Standing:
    def __init__(self, store: ReputationStore) -> None:
        self.store = store
        self._seen: tuple[Marks, date] | None = None

    async def refresh(self, now: datetime | None = None) -> bool:
        """Work reputation out again if anything it depends on changed; True when it did."""
        now = now or utcnow()
        seen = (await self.store.marks(), now.date())
        if seen == self._seen:
            return False
        inputs = await self.store.inputs()
        created, evidence = inputs.created, _evidence(inputs)
        result = await asyncio.to_thread(compute, created, evidence, inputs.trust, now)
        if not await self.store.replace(_stored(result, now)):
            log.debug("reputation was saved by another node meanwhile")
        self._seen = seen
        log.info(
            "reputation of %d AIs worked out from %d pieces of evidence (seeded by %s)",
            len(created),
            len(evidence),
            result.seeded_by,
        )
        return True


def _evidence(inputs: Inputs) -> list[Evidence]:
    """Endorsements as they stand, and each rater's latest verdict on each answer."""
    endorsed = [
        Evidence(e.endorser, e.agent, "endorse", (e.skill,), e.since) for e in inputs.endorsements
    ]
    latest = latest_ratings((r.answer, r.rater, r) for r in inputs.ratings)
    return endorsed + [
        Evidence(r.rater, r.author, r.verdict, r.topics, r.at, r.knows) for r in latest.values()
    ]


def _stored(result: Reputation, now: datetime) -> dict[str, list[ReputationInfo]]:
    """Per AI, its scores as the protocol shows them, worked out at ``now``."""
    return {
        agent: [_info(score, now) for score in by_skill.values()]
        for agent, by_skill in result.scores.items()
    }


def _info(score: Score, now: datetime) -> ReputationInfo:
    return ReputationInfo(
        skill=score.skill,
        score=score.score,
        trust=score.trust,
        parts=[ScorePart(source=p.source, kinds=list(p.kinds), share=p.share) for p in score.parts],
        waiting=score.waiting,
        learned=score.learned,
        computed_at=now,
    )
