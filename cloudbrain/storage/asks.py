"""Asks as the database keeps them: finished asks with their ranked answers, and the
feedback on answers (append-only: a rater's latest rating is the one that counts)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.db.engine import write_transaction
from cloudbrain.db.models import ask_answers, asks, feedback
from cloudbrain.db.types import utcnow
from cloudbrain.directory.skills import verdict_counts
from cloudbrain.ids import new_id
from cloudbrain.protocol import Ask, AskAnswer, AskResult


class AskStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def save(self, result: AskResult, frame: Ask) -> None:
        """Store a finished ask and its ranked answers, in one transaction."""
        options = frame.model_dump(mode="json", exclude={"type", "id", "question", "v"})
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                asks.insert().values(
                    id=result.ask,
                    asker=result.asker,
                    question=result.question,
                    topics=result.topics,
                    options=options,
                    specialists=[s.model_dump(mode="json") for s in result.specialists],
                    summary=result.summary,
                    missing=result.missing,
                    seconds=result.seconds,
                    created_at=result.at,
                )
            )
            if result.answers:
                await conn.execute(
                    ask_answers.insert(),
                    [
                        {
                            **a.model_dump(exclude={"feedback"}),
                            "ask_id": result.ask,
                            "rank": rank,
                        }
                        for rank, a in enumerate(result.answers)
                    ],
                )

    async def listing(self, asker: str | None, limit: int) -> list[AskResult]:
        """Past asks, newest first, with their ranked answers and the feedback on each."""
        query = select(asks).order_by(asks.c.created_at.desc()).limit(limit)
        if asker is not None:
            query = query.where(asks.c.asker == asker)
        return await self._results(query)

    async def get(self, ask_id: str) -> AskResult | None:
        """One finished ask, or None when there is none with that id."""
        found = await self._results(select(asks).where(asks.c.id == ask_id))
        return found[0] if found else None

    async def _results(self, query: Select[Any]) -> list[AskResult]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            ids = [row["id"] for row in rows]
            answer_rows = (
                (
                    await conn.execute(
                        select(ask_answers)
                        .where(ask_answers.c.ask_id.in_(ids))
                        .order_by(ask_answers.c.rank)
                    )
                )
                .mappings()
                .all()
            )
            ratings = (
                await conn.execute(
                    select(feedback.c.answer_id, feedback.c.rater, feedback.c.verdict)
                    .where(feedback.c.ask_id.in_(ids))
                    .order_by(feedback.c.created_at, feedback.c.id)
                )
            ).all()
        counts = verdict_counts(ratings)
        by_ask: dict[str, list[AskAnswer]] = defaultdict(list)
        for row in answer_rows:
            by_ask[row["ask_id"]].append(
                AskAnswer.model_validate({**row, "feedback": dict(counts.get(row["id"], {}))})
            )
        return [
            AskResult(
                ask=row["id"],
                question=row["question"],
                asker=row["asker"],
                at=row["created_at"],
                topics=row["topics"],
                specialists=row["specialists"],
                answers=by_ask.get(row["id"], []),
                nobody_knows=not any(a.knows for a in by_ask.get(row["id"], [])),
                summary=row["summary"],
                missing=row["missing"],
                seconds=row["seconds"],
            )
            for row in rows
        ]

    async def rate(self, ask: str, answer: str, rater: str, verdict: str) -> bool:
        """Record a rating; False when the ask has no such answer."""
        async with self.engine.connect() as conn:
            known = await conn.scalar(
                select(ask_answers.c.id).where(
                    ask_answers.c.id == answer, ask_answers.c.ask_id == ask
                )
            )
        if known is None:
            return False
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                feedback.insert().values(
                    id=new_id(),
                    ask_id=ask,
                    answer_id=answer,
                    rater=rater,
                    verdict=verdict,
                    created_at=utcnow(),
                )
            )
        return True
