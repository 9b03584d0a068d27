"""Agents as the database keeps them: an identity's name, description and skills, the
SHA-256 of its token, and when it was revoked.

The rules (what a name may be, how a token is made and compared) are
:mod:`cloudbrain.identity`'s; this module only writes a record and reads it back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.db.engine import write_transaction
from cloudbrain.db.models import agents
from cloudbrain.db.types import utcnow


@dataclass(frozen=True)
class AgentRecord:
    id: str
    name: str
    description: str
    skills: list[str]
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class Credential:
    """An agent with the hash of its token: what a token is compared against."""

    agent: AgentRecord
    token_hash: str


class AgentStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(self, agent: AgentRecord, token_hash: str) -> bool:
        """Store a new agent; False when the name is taken (by an active or revoked agent)."""
        try:
            async with write_transaction(self.engine) as conn:
                await conn.execute(
                    agents.insert().values(
                        id=agent.id,
                        name=agent.name,
                        description=agent.description,
                        skills=agent.skills,
                        token_hash=token_hash,
                        created_at=agent.created_at,
                        revoked_at=agent.revoked_at,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def get(self, name: str) -> AgentRecord | None:
        found = await self._credential(agents.c.name == name)
        return found.agent if found is not None else None

    async def credential(self, name: str) -> Credential | None:
        """The agent called ``name`` with its token's hash, revoked or not."""
        return await self._credential(agents.c.name == name)

    async def by_token_hash(self, token_hash: str) -> AgentRecord | None:
        """The agent, revoked or not, whose token has this hash."""
        found = await self._credential(agents.c.token_hash == token_hash)
        return found.agent if found is not None else None

    async def listing(self, *, include_revoked: bool) -> list[AgentRecord]:
        """The agents by name; revoked ones only if ``include_revoked``."""
        query = select(agents).order_by(agents.c.name)
        if not include_revoked:
            query = query.where(agents.c.revoked_at.is_(None))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_record(row) for row in rows]

    async def revoke(self, name: str) -> AgentRecord | None:
        """Mark the agent revoked now, unless it is already (it keeps its first date); the
        agent as it is then, or None when there is none of that name."""
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                update(agents)
                .where(agents.c.name == name, agents.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        return await self.get(name)

    async def _credential(self, where: ColumnElement[bool]) -> Credential | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(agents).where(where))).mappings().first()
        return Credential(_record(row), row["token_hash"]) if row is not None else None


def _record(row: Mapping[Any, Any]) -> AgentRecord:
    return AgentRecord(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        skills=list(row["skills"]),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )
