"""The original CloudBrain's view of the family: every AI there had a number (``ai_id``), a
name, a nickname, a project and a version. This maps those numbers onto CloudBrain identities,
for clients of the original protocol and for imports of an original database, and translates
brain states between the two shapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.brainstate import BrainState
from cloudbrain.db.engine import write_transaction
from cloudbrain.db.models import legacy_ids
from cloudbrain.identity import AgentRecord, create_agent, get_agent

ATTEMPTS = 5  # two new AIs racing for the next number: the loser takes the one after


@dataclass(frozen=True)
class LegacyAI:
    number: int
    agent: str
    nickname: str = ""
    project: str = ""
    version: str = ""

    @property
    def identity(self) -> str:
        """What the original server called an AI in messages: nickname_project, or a part."""
        nick = self.nickname or f"AI_{self.number}"
        return f"{nick}_{self.project}" if self.project else nick


def agent_name(name: str, number: int) -> str:
    """A CloudBrain agent name for an original AI's name ("Li Ming" -> "Li-Ming")."""
    cleaned = re.sub(r"\s+", "-", name.strip()).lstrip("*")[:64]
    return cleaned or f"ai-{number}"


class LegacyIds:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # Numbers, once given, never change: each message to an original client names its
        # sender's, so they are kept rather than read again.
        self._of_agent: dict[str, LegacyAI] = {}

    async def by_number(self, number: int) -> LegacyAI | None:
        async with self.engine.connect() as conn:
            row = (
                (await conn.execute(select(legacy_ids).where(legacy_ids.c.legacy_id == number)))
                .mappings()
                .first()
            )
        return _ai(row) if row is not None else None

    async def of_agent(self, name: str) -> LegacyAI:
        """The AI's number, given now (the next free one) if it has none yet."""
        known = self._of_agent.get(name)
        if known is None:
            known = self._of_agent[name] = await self._number(name)
        return known

    async def _number(self, name: str) -> LegacyAI:
        for _ in range(ATTEMPTS):
            async with self.engine.connect() as conn:
                row = (
                    (await conn.execute(select(legacy_ids).where(legacy_ids.c.agent == name)))
                    .mappings()
                    .first()
                )
                if row is not None:
                    return _ai(row)
                highest = await conn.scalar(select(func.max(legacy_ids.c.legacy_id)))
            try:
                return await self._record(LegacyAI(int(highest or 0) + 1, name))
            except IntegrityError:
                continue
        raise RuntimeError(f"could not give {name!r} a number of the original protocol")

    async def claim(
        self, number: int, name: str, *, nickname: str = "", project: str = "", version: str = ""
    ) -> tuple[LegacyAI, AgentRecord, str | None]:
        """The identity of original AI ``number``: known already, an existing agent of that
        name, or a new agent (then its token is returned, the one time it is seen)."""
        known = await self.by_number(number)
        if known is not None:
            agent = await get_agent(self.engine, known.agent)
            assert agent is not None, f"legacy AI {number} maps to a missing agent"
            return known, agent, None
        name = agent_name(name, number)
        agent, token = await get_agent(self.engine, name), None
        if agent is None:
            agent, token = await create_agent(
                self.engine, name, description=f"from the original CloudBrain (AI {number})"
            )
        ai = await self._record(LegacyAI(number, name, nickname, project, version))
        return ai, agent, token

    async def _record(self, ai: LegacyAI) -> LegacyAI:
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                legacy_ids.insert().values(
                    legacy_id=ai.number,
                    agent=ai.agent,
                    nickname=ai.nickname,
                    project=ai.project,
                    version=ai.version,
                )
            )
        return ai

    async def state_imported(self, number: int) -> str | None:
        async with self.engine.connect() as conn:
            found: str | None = await conn.scalar(
                select(legacy_ids.c.state_imported).where(legacy_ids.c.legacy_id == number)
            )
            return found

    async def mark_state_imported(self, number: int, activity: str) -> None:
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                update(legacy_ids)
                .where(legacy_ids.c.legacy_id == number)
                .values(state_imported=activity)
            )


def _ai(row: Any) -> LegacyAI:
    return LegacyAI(row["legacy_id"], row["agent"], row["nickname"], row["project"], row["version"])


# --- brain states --------------------------------------------------------------------------------

# The original state's fields that have a place in CloudBrain's; the rest go to ``extra``.
CYCLES = "cycles"


def state_from_legacy(state: dict[str, Any], brain_dump: Any = None) -> BrainState:
    counters = {}
    if isinstance(state.get("cycle_count"), int):
        counters[CYCLES] = state["cycle_count"]
    extra = {
        key: state[key]
        for key in ("last_insight", "current_cycle", "checkpoint_data")
        if state.get(key) is not None
    }
    if brain_dump:
        extra["brain_dump"] = brain_dump
    return BrainState(
        current_task=_text(state.get("current_task")),
        last_thought=_text(state.get("last_thought")),
        counters=counters,
        extra=extra,
    )


def state_to_legacy(state: BrainState) -> dict[str, Any]:
    return {
        "current_task": state.current_task,
        "last_thought": state.last_thought,
        "last_insight": state.extra.get("last_insight"),
        "current_cycle": state.extra.get("current_cycle"),
        "cycle_count": state.counters.get(CYCLES, 0),
        "brain_dump": state.extra.get("brain_dump") or {},
        "checkpoint_data": state.extra.get("checkpoint_data") or {},
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
