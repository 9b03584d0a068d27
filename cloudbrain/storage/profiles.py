"""What the tables say about each AI, as the directory puts its profile together: sessions,
memories, newest brain state, the answers it knew and how they were rated, the questions it
answered, and which AIs have a session open now.

Read only: each of these tables is written by its own store. What the directory makes of
them (learned skills, devices, cards, who to ask) is decided in
:mod:`cloudbrain.server.directory` and :mod:`cloudbrain.directory`."""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

from sqlalchemy import false, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.brainstate import BrainState
from cloudbrain.db.models import (
    agents,
    ask_answers,
    asks,
    brain_states,
    feedback,
    memories,
    sessions,
)


class KnowingAnswer(NamedTuple):
    """An answer that knew something, with the topics of the ask it answered."""

    answer: str
    agent: str
    topics: list[str]


class Rating(NamedTuple):
    answer: str
    rater: str
    verdict: str


class AnsweredAsk(NamedTuple):
    question: str
    topics: list[str]


class ProfileStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def open_capabilities(self, names: Collection[str]) -> dict[str, set[str]]:
        """Of the active AIs called ``names`` that have a session open, on whichever node,
        what those sessions are capable of."""
        if not names:
            return {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(agents.c.name, sessions.c.capabilities)
                .join(sessions, sessions.c.agent_id == agents.c.id)
                .where(
                    agents.c.name.in_(list(names)),
                    agents.c.revoked_at.is_(None),
                    sessions.c.ended_at.is_(None),
                )
            )
            found: dict[str, set[str]] = {}
            for name, capabilities in rows:
                found.setdefault(name, set()).update(capabilities)
        return found

    async def session_counts(self) -> dict[str, int]:
        """Per AI, how many sessions it ever had (commands not counted)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(agents.c.name, func.count(sessions.c.id))
                .join(sessions, sessions.c.agent_id == agents.c.id)
                .where(sessions.c.one_shot.is_(false()))
                .group_by(agents.c.name)
            )
            return {name: count for name, count in rows}

    async def memory_counts(self) -> dict[str, int]:
        """Per AI, how many memories it has."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(memories.c.ai, func.count()).group_by(memories.c.ai))
            return {ai: count for ai, count in rows}

    async def newest_states(self) -> dict[str, BrainState]:
        """Per AI that saved one, its newest brain state."""
        newest = (
            select(brain_states.c.ai, func.max(brain_states.c.version).label("version"))
            .group_by(brain_states.c.ai)
            .subquery()
        )
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(brain_states.c.ai, brain_states.c.state).join(
                    newest,
                    (newest.c.ai == brain_states.c.ai)
                    & (newest.c.version == brain_states.c.version),
                )
            )
            return {ai: BrainState.model_validate(state) for ai, state in rows}

    async def knowing_answers(self) -> list[KnowingAnswer]:
        """Every answer that knew something, with the topics of its ask."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(ask_answers.c.id, ask_answers.c.agent, asks.c.topics)
                .join(asks, asks.c.id == ask_answers.c.ask_id)
                .where(ask_answers.c.knows.is_(True))
            )
            return [KnowingAnswer(answer, agent, topics) for answer, agent, topics in rows]

    async def ratings(self) -> list[Rating]:
        """Every rating of an answer, oldest first (a rater's latest is the one that counts)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(feedback.c.answer_id, feedback.c.rater, feedback.c.verdict).order_by(
                    feedback.c.created_at, feedback.c.id
                )
            )
            return [Rating(answer, rater, verdict) for answer, rater, verdict in rows]

    async def answered(self, agent: str, limit: int) -> list[AnsweredAsk]:
        """The newest ``limit`` asks ``agent`` answered knowing something, newest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(asks.c.question, asks.c.topics)
                .join(ask_answers, ask_answers.c.ask_id == asks.c.id)
                .where(ask_answers.c.agent == agent, ask_answers.c.knows.is_(True))
                .order_by(asks.c.created_at.desc())
                .limit(limit)
            )
            return [AnsweredAsk(question, topics) for question, topics in rows]
