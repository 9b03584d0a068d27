"""Asks as the database keeps them: finished asks with their ranked answers, and the
feedback on answers (append-only: a rater's latest rating is the one that counts).

Asks with their answers are listed here for everyone: the hub for agents, the web view and
the REST API for people. (The directory and reputation read answers and ratings too, each for
what it works out, in :mod:`profiles` and :mod:`reputation`.)"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cloudbrain.db.engine import write_transaction
from cloudbrain.db.models import ask_answers, asks, feedback
from cloudbrain.db.types import utcnow
from cloudbrain.ids import new_id
from cloudbrain.protocol import Ask, AskAnswer, AskResult
from cloudbrain.ratings import verdict_counts


@dataclass(frozen=True)
class GivenAnswer:
    """An answer with the ask it answered, as an answerer's record lists it."""

    ask: str
    question: str
    asker: str
    rank: int
    answer: AskAnswer


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

    async def listing(
        self, limit: int, offset: int = 0, *, asker: str | None = None
    ) -> list[AskResult]:
        """Past asks (of ``asker``, or everyone's), newest first, with their ranked answers and
        the feedback on each."""
        return await self._results(_newest(asker).limit(limit).offset(offset))

    async def count(self, asker: str | None = None) -> int:
        """How many asks :meth:`listing` pages through."""
        query = select(func.count()).select_from(_newest(asker).subquery())
        async with self.engine.connect() as conn:
            return int(await conn.scalar(query) or 0)

    async def get(self, ask_id: str) -> AskResult | None:
        """One finished ask, or None when there is none with that id."""
        found = await self._results(select(asks).where(asks.c.id == ask_id))
        return found[0] if found else None

    async def given_by(self, agent: str, limit: int) -> list[GivenAnswer]:
        """The agent's newest answers, each with its ask and the feedback on it."""
        query = (
            select(ask_answers, asks.c.question, asks.c.asker)
            .join(asks, asks.c.id == ask_answers.c.ask_id)
            .where(ask_answers.c.agent == agent)
            .order_by(ask_answers.c.at.desc())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            answers = await _answers(conn, rows)
        return [
            GivenAnswer(row["ask_id"], row["question"], row["asker"], row["rank"], answer)
            for row, answer in zip(rows, answers, strict=True)
        ]

    async def _results(self, query: Select[Any]) -> list[AskResult]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            answer_rows = (
                (
                    await conn.execute(
                        select(ask_answers)
                        .where(ask_answers.c.ask_id.in_([row["id"] for row in rows]))
                        .order_by(ask_answers.c.rank)
                    )
                )
                .mappings()
                .all()
            )
            answers = await _answers(conn, answer_rows)
        by_ask: dict[str, list[AskAnswer]] = defaultdict(list)
        for row, answer in zip(answer_rows, answers, strict=True):
            by_ask[row["ask_id"]].append(answer)
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


def _newest(asker: str | None) -> Select[Any]:
    query = select(asks).order_by(asks.c.created_at.desc(), asks.c.id.desc())
    return query if asker is None else query.where(asks.c.asker == asker)


async def _answers(conn: AsyncConnection, rows: Sequence[Any]) -> list[AskAnswer]:
    """Stored answers as the protocol shows them, each with its feedback: per verdict, how many
    raters' latest rating it is."""
    if not rows:
        return []
    ratings = await conn.execute(
        select(feedback.c.answer_id, feedback.c.rater, feedback.c.verdict)
        .where(feedback.c.answer_id.in_([row["id"] for row in rows]))
        .order_by(feedback.c.created_at, feedback.c.id)
    )
    counts = verdict_counts(ratings.all())
    return [
        AskAnswer.model_validate({**row, "feedback": dict(counts.get(row["id"], {}))})
        for row in rows
    ]
