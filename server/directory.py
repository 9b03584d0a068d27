"""The directory as the server keeps it: profiles put together from the tables (agents,
sessions, memories, brain states, answers and their feedback), and the ``who`` and ``card``
requests."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from importlib.metadata import version

from sqlalchemy import func, select
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
from cloudbrain.directory.card import agent_card
from cloudbrain.directory.search import matches
from cloudbrain.directory.skills import AnswerEvidence, learned_skills, verdict_counts
from cloudbrain.errors import ErrorCode
from cloudbrain.protocol import (
    AgentCard,
    AgentInfo,
    Card,
    DeviceInfo,
    Error,
    LearnedSkill,
    Roster,
    Who,
)
from cloudbrain.server.session import LiveSession
from cloudbrain.server.store import MessageStore

# How long learned skills are reused; other server nodes' asks and ratings show after this.
LEARNED_SECONDS = 10.0


class DirectoryStore:
    def __init__(self, engine: AsyncEngine, messages: MessageStore) -> None:
        self.engine = engine
        self.messages = messages
        self._learned: tuple[float, dict[str, list[LearnedSkill]]] | None = None

    async def learned(self) -> dict[str, list[LearnedSkill]]:
        """Learned skills per AI. Worked out from every answer and rating there is, so kept
        for a few seconds rather than worked out for every ask; a rating on this node drops
        them at once, so that it counts in the very next ask."""
        now = time.monotonic()
        if self._learned is None or now - self._learned[0] > LEARNED_SECONDS:
            self._learned = (now, learned_skills(await self.evidence()))
        return self._learned[1]

    def forget_learned(self) -> None:
        self._learned = None

    async def profiles(self) -> list[AgentInfo]:
        """Every active AI's profile, by name."""
        roster = await self.messages.roster()
        async with self.engine.connect() as conn:
            session_counts: dict[str, int] = {
                name: count
                for name, count in await conn.execute(
                    select(agents.c.name, func.count(sessions.c.id))
                    .join(sessions, sessions.c.agent_id == agents.c.id)
                    .group_by(agents.c.name)
                )
            }
            memory_counts: dict[str, int] = {
                ai: count
                for ai, count in await conn.execute(
                    select(memories.c.ai, func.count()).group_by(memories.c.ai)
                )
            }
            newest = (
                select(brain_states.c.ai, func.max(brain_states.c.version).label("version"))
                .group_by(brain_states.c.ai)
                .subquery()
            )
            states = {
                ai: BrainState.model_validate(state)
                for ai, state in await conn.execute(
                    select(brain_states.c.ai, brain_states.c.state).join(
                        newest,
                        (newest.c.ai == brain_states.c.ai)
                        & (newest.c.version == brain_states.c.version),
                    )
                )
            }
        learned = await self.learned()
        return [
            profile.model_copy(
                update={
                    "learned_skills": learned.get(profile.name, []),
                    "devices": devices(states.get(profile.name)),
                    "session_count": session_counts.get(profile.name, 0),
                    "memories": memory_counts.get(profile.name, 0),
                }
            )
            for profile in roster
        ]

    async def evidence(self) -> list[AnswerEvidence]:
        """Every answer that knew something, with the topics of its ask and, per verdict,
        how many raters' latest rating it is."""
        async with self.engine.connect() as conn:
            answers = (
                await conn.execute(
                    select(ask_answers.c.id, ask_answers.c.agent, asks.c.topics)
                    .join(asks, asks.c.id == ask_answers.c.ask_id)
                    .where(ask_answers.c.knows.is_(True))
                )
            ).all()
            ratings = (
                await conn.execute(
                    select(feedback.c.answer_id, feedback.c.rater, feedback.c.verdict).order_by(
                        feedback.c.created_at, feedback.c.id
                    )
                )
            ).all()
        verdicts = verdict_counts(ratings)
        return [
            AnswerEvidence(
                agent=agent,
                topics=tuple(topics),
                up=verdicts.get(answer_id, {}).get("up", 0),
                down=verdicts.get(answer_id, {}).get("down", 0),
                accepted=verdicts.get(answer_id, {}).get("accept", 0),
            )
            for answer_id, agent, topics in answers
        ]

    async def examples(self, agent: str) -> dict[str, list[str]]:
        """Questions the AI answered, per topic, newest first: the examples of its card."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(asks.c.question, asks.c.topics)
                .join(ask_answers, ask_answers.c.ask_id == asks.c.id)
                .where(ask_answers.c.agent == agent, ask_answers.c.knows.is_(True))
                .order_by(asks.c.created_at.desc())
                .limit(100)
            )
            found: dict[str, list[str]] = defaultdict(list)
            for question, topics in rows:
                for topic in topics:
                    if question not in found[topic]:
                        found[topic].append(question)
        return found


def devices(state: BrainState | None) -> list[DeviceInfo]:
    """Per device, the models an AI used there and their measured speed, from its brain
    state's performance counters (kept per "device/model")."""
    if state is None:
        return []
    by_device: dict[str, list[tuple[str, int, int, float]]] = defaultdict(list)
    for key, spent in state.performance.items():
        device, _, model = key.rpartition("/")
        by_device[device].append((model, spent.answers, spent.tokens, spent.seconds))
    found = []
    for device, rows in sorted(by_device.items()):
        answers = sum(r[1] for r in rows)
        tokens = sum(r[2] for r in rows)
        seconds = sum(r[3] for r in rows)
        found.append(
            DeviceInfo(
                device=device,
                models=sorted(r[0] for r in rows),
                tokens_per_second=round(tokens / seconds, 1) if tokens and seconds else None,
                seconds_per_answer=round(seconds / answers, 3) if answers else None,
                answers=answers,
            )
        )
    return found


class DirectoryService:
    def __init__(self, store: DirectoryStore, server_url: Callable[[], str]) -> None:
        self.store = store
        self.server_url = server_url

    async def who(self, session: LiveSession, frame: Who) -> None:
        found = [
            p
            for p in await self.store.profiles()
            if matches(p, skill=frame.skill, online=frame.online, text=frame.text)
        ]
        session.send(Roster(re=frame.id, agents=found).to_json())

    async def card(self, session: LiveSession, frame: Card) -> None:
        profile = next((p for p in await self.store.profiles() if p.name == frame.agent), None)
        if profile is None:
            session.send(
                Error(
                    re=frame.id, code=ErrorCode.NOT_FOUND, detail=f"no agent named {frame.agent!r}"
                ).to_json()
            )
            return
        card = agent_card(
            profile,
            server_url=self.server_url(),
            version=version("cloudbrain"),
            examples=await self.store.examples(profile.name),
        )
        session.send(AgentCard(re=frame.id, card=card).to_json())
