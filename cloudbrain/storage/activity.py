"""What the AIs of the family did, as the web view and the REST API read it: an AI's sessions,
recent answers with their feedback, answers per day, speed per device and model, and asks with
their ranked answers. Sessions and asks come a page at a time, by an index; asks and brain
states are read through their own stores.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import RowMapping, false, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.db.models import agents, ask_answers, memories, sessions
from cloudbrain.protocol import AskAnswer, AskResult
from cloudbrain.storage.asks import AskStore
from cloudbrain.storage.brains import BrainStore


class SessionRow(BaseModel):
    agent: str
    session: str
    device: str
    client: str
    node: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None


class AnswerRow(BaseModel):
    """An answer as stored with its ask: who gave it, from where, and how it was received."""

    id: str
    ask: str
    question: str
    asker: str
    agent: str
    rank: int
    source: str
    text: str
    knows: bool = True  # False: it said it does not know, or its text is not about the question
    score: float
    device: str
    session: str
    model: str | None
    at: datetime
    feedback: dict[str, int] = {}


class AskRow(BaseModel):
    id: str
    question: str
    asker: str
    topics: list[str]
    summary: str
    missing: list[str]
    seconds: float
    at: datetime
    answers: list[AnswerRow] = []


class SpeedRow(BaseModel):
    """How fast an AI answered on one device with one model (from its brain state)."""

    device: str
    model: str
    answers: int
    tokens_per_second: float | None
    seconds_per_answer: float | None


class Activity:
    def __init__(self, engine: AsyncEngine, asks: AskStore, brains: BrainStore) -> None:
        self.engine = engine
        self.asks_store = asks
        self.brains = brains

    async def sessions(
        self, name: str, limit: int, offset: int = 0
    ) -> tuple[list[SessionRow], int]:
        """The AI's sessions, newest first, and how many it had in all: the agent running,
        not the one-shot commands run in its name."""
        where = (agents.c.name == name, sessions.c.one_shot.is_(false()))
        query = (
            select(sessions, agents.c.name)
            .join(agents, agents.c.id == sessions.c.agent_id)
            .where(*where)
            .order_by(sessions.c.started_at.desc())
            .limit(limit)
            .offset(offset)
        )
        total = (
            select(func.count())
            .select_from(sessions.join(agents, agents.c.id == sessions.c.agent_id))
            .where(*where)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            count = int(await conn.scalar(total) or 0)
        return [_session(row) for row in rows], count

    async def session(self, session_id: str) -> SessionRow | None:
        query = (
            select(sessions, agents.c.name)
            .join(agents, agents.c.id == sessions.c.agent_id)
            .where(sessions.c.id == session_id)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else _session(row)

    async def memory_devices(self, name: str) -> list[str]:
        """Every device the AI has memories from."""
        query = select(memories.c.device).where(memories.c.ai == name).distinct()
        async with self.engine.connect() as conn:
            return sorted(device for (device,) in await conn.execute(query) if device)

    async def answers(self, name: str, limit: int = 20) -> list[AnswerRow]:
        """The AI's newest answers to asks, with the question and the feedback on each."""
        return [
            _answer(given.ask, given.question, given.asker, given.rank, given.answer)
            for given in await self.asks_store.given_by(name, limit)
        ]

    async def answers_per_day(self, name: str, days: int, today: date) -> list[tuple[date, int]]:
        """How many answers the AI gave on each of the last ``days`` days, oldest first."""
        start = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), UTC)
        query = select(ask_answers.c.at).where(
            ask_answers.c.agent == name, ask_answers.c.at >= start
        )
        async with self.engine.connect() as conn:
            counted = Counter(at.date() for (at,) in await conn.execute(query))
        return [
            (day, counted.get(day, 0))
            for day in (start.date() + timedelta(days=i) for i in range(days))
        ]

    async def speeds(self, name: str) -> list[SpeedRow]:
        """Per device and model, answers and speed, from the AI's newest brain state."""
        newest = await self.brains.load(name)
        if newest is None:
            return []
        return [
            SpeedRow(
                device=device,
                model=model,
                answers=spent.answers,
                tokens_per_second=spent.shown()[0],
                seconds_per_answer=spent.shown()[1],
            )
            for device, model, spent in newest.state.spent()
        ]

    async def asks(
        self, limit: int, offset: int = 0, *, asker: str | None = None, ask_id: str | None = None
    ) -> tuple[list[AskRow], int]:
        """Asks, newest first, each with its ranked answers and their feedback, and how many
        there are in all; with ``ask_id``, that one ask (if there is one)."""
        if ask_id is not None:
            found = await self.asks_store.get(ask_id)
            results = [found] if found is not None and asker in (None, found.asker) else []
            return [_ask(r) for r in results], len(results)
        results = await self.asks_store.listing(limit, offset, asker=asker)
        return [_ask(r) for r in results], await self.asks_store.count(asker)


def _session(row: RowMapping) -> SessionRow:
    return SessionRow(
        agent=row["name"],
        session=row["id"],
        device=row["device"],
        client=row["client"],
        node=row["node"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        end_reason=row["end_reason"],
    )


def _ask(result: AskResult) -> AskRow:
    assert result.at is not None, "a stored ask has its time"
    return AskRow(
        id=result.ask,
        question=result.question,
        asker=result.asker,
        topics=result.topics,
        summary=result.summary,
        missing=result.missing,
        seconds=result.seconds,
        at=result.at,
        answers=[
            _answer(result.ask, result.question, result.asker, rank, answer)
            for rank, answer in enumerate(result.answers)
        ],
    )


def _answer(ask: str, question: str, asker: str, rank: int, answer: AskAnswer) -> AnswerRow:
    return AnswerRow(
        ask=ask,
        question=question,
        asker=asker,
        rank=rank,
        **answer.model_dump(
            include={
                "id",
                "agent",
                "source",
                "text",
                "knows",
                "score",
                "device",
                "session",
                "model",
                "at",
                "feedback",
            }
        ),
    )
