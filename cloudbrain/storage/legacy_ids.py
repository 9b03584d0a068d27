"""The numbers AIs have in the original CloudBrain, as the database keeps them (``legacy_ids``):
each number with the agent it is, that AI's nickname, project and version, whether clients
of the original protocol may be it, and what of its brain state was imported.

Which number an AI gets and who may have one are :mod:`cloudbrain.server.legacy_ids`'s rules;
this module only writes the numbers and reads them back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import String, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.db.engine import write_transaction
from cloudbrain.db.models import legacy_ids


@dataclass(frozen=True)
class LegacyAI:
    number: int
    agent: str
    nickname: str = ""
    project: str = ""
    version: str = ""
    open_to_original: bool = False  # may a client of the original protocol be this AI


class LegacyIdStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def by_number(self, number: int) -> LegacyAI | None:
        async with self.engine.connect() as conn:
            row = (
                (await conn.execute(select(legacy_ids).where(legacy_ids.c.legacy_id == number)))
                .mappings()
                .first()
            )
        return _ai(row) if row is not None else None

    async def by_agent(self, name: str) -> LegacyAI | None:
        async with self.engine.connect() as conn:
            row = (
                (await conn.execute(select(legacy_ids).where(legacy_ids.c.agent == name)))
                .mappings()
                .first()
            )
        return _ai(row) if row is not None else None

    async def highest(self) -> int | None:
        """The highest number given; None before the first."""
        async with self.engine.connect() as conn:
            found: int | None = await conn.scalar(select(func.max(legacy_ids.c.legacy_id)))
            return found

    async def add(
        self, ai: LegacyAI, *, opening_created_at: datetime | None = None
    ) -> LegacyAI | None:
        """Store ``ai``'s number, and return it as stored; None when the number, or a number
        for that agent, is there already (another node or connection took it just now)."""
        ai = LegacyAI(
            ai.number,
            ai.agent,
            _fit(ai.nickname, "nickname"),
            _fit(ai.project, "project"),
            _fit(ai.version, "version"),
            ai.open_to_original,
        )
        try:
            async with write_transaction(self.engine) as conn:
                await conn.execute(
                    legacy_ids.insert().values(
                        legacy_id=ai.number,
                        agent=ai.agent,
                        nickname=ai.nickname,
                        project=ai.project,
                        version=ai.version,
                        open_to_original=ai.open_to_original,
                        opening_created_at=opening_created_at,
                    )
                )
        except IntegrityError:
            return None
        return ai

    async def remove(self, number: int) -> None:
        async with write_transaction(self.engine) as conn:
            await conn.execute(delete(legacy_ids).where(legacy_ids.c.legacy_id == number))

    async def created_by_openings_since(self, since: datetime) -> int:
        """How many numbers were stored for original-protocol openings at or after ``since``."""
        async with self.engine.connect() as conn:
            found = await conn.scalar(
                select(func.count()).where(legacy_ids.c.opening_created_at >= since)
            )
        return int(found or 0)

    async def state_imported(self, number: int) -> str | None:
        """The ``last_activity`` of the brain state last imported for AI ``number``."""
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
    return LegacyAI(
        row["legacy_id"],
        row["agent"],
        row["nickname"],
        row["project"],
        row["version"],
        bool(row["open_to_original"]),
    )


def _fit(text: str, column: str) -> str:
    """``text`` as the column can hold it: what an original client or database says is
    clipped to the column's size (and NUL, which PostgreSQL cannot store, dropped) rather
    than failing the write."""
    size = cast(String, legacy_ids.c[column].type).length
    return text.replace("\x00", "")[:size]
