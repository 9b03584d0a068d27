"""AI identities: create, list, revoke, authenticate.

A token is shown once, when the agent is created; the database keeps only its SHA-256. Tokens
are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import RowMapping, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.db.engine import write_transaction
from cloudbrain.db.models import agents as _agents
from cloudbrain.db.types import utcnow
from cloudbrain.errors import CloudBrainError
from cloudbrain.ids import new_id
from cloudbrain.protocol import AgentName

TOKEN_PREFIX = "cb_"
_name_adapter: TypeAdapter[str] = TypeAdapter(AgentName)


class AgentExists(CloudBrainError):
    pass


class AgentNotFound(CloudBrainError):
    pass


class InvalidName(CloudBrainError):
    pass


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


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    try:
        return _name_adapter.validate_python(name)
    except ValidationError:
        raise InvalidName(
            f"{name!r} is not a valid agent name",
            hint="use 1 to 64 characters without spaces or control characters, not starting "
            "with '*'",
        ) from None


def _record(row: Mapping[Any, Any]) -> AgentRecord:
    return AgentRecord(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        skills=list(row["skills"]),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


async def _find(engine: AsyncEngine, name: str) -> RowMapping | None:
    async with engine.connect() as conn:
        return (
            (await conn.execute(select(_agents).where(_agents.c.name == name))).mappings().first()
        )


async def create_agent(
    engine: AsyncEngine, name: str, *, description: str = "", skills: list[str] | None = None
) -> tuple[AgentRecord, str]:
    """Register a new agent; returns its record and its token (the only time it is visible)."""
    check_name(name)
    token = new_token()
    row = {
        "id": new_id(),
        "name": name,
        "description": description,
        "skills": sorted(set(skills or [])),
        "token_hash": hash_token(token),
        "created_at": utcnow(),
        "revoked_at": None,
    }
    try:
        async with write_transaction(engine) as conn:
            await conn.execute(_agents.insert().values(row))
    except IntegrityError:
        raise AgentExists(
            f"an agent named {name!r} already exists",
            hint="names stay reserved even after revocation, so old messages keep their author; pick another name",
        ) from None
    return _record(row), token


async def list_agents(engine: AsyncEngine, *, include_revoked: bool = False) -> list[AgentRecord]:
    query = select(_agents).order_by(_agents.c.name)
    if not include_revoked:
        query = query.where(_agents.c.revoked_at.is_(None))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [_record(row) for row in rows]


async def get_agent(engine: AsyncEngine, name: str) -> AgentRecord | None:
    row = await _find(engine, name)
    return _record(row) if row else None


async def revoke_agent(engine: AsyncEngine, name: str) -> AgentRecord:
    """Revoke an agent's identity: its token stops working and running servers close its
    connections within a second or so."""
    async with write_transaction(engine) as conn:
        await conn.execute(
            update(_agents)
            .where(_agents.c.name == name, _agents.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    record = await get_agent(engine, name)
    if record is None:
        raise AgentNotFound(
            f"no agent named {name!r}", hint="`cloudbrain agent list` shows the agents there are"
        )
    return record


async def authenticate(engine: AsyncEngine, name: str, token: str) -> AgentRecord | None:
    """The agent if ``token`` is its token and it is not revoked; None otherwise."""
    row = await _find(engine, name)
    # Compare even for an unknown name, so the answer takes as long either way.
    expected = row["token_hash"] if row else "0" * 64
    if not hmac.compare_digest(hash_token(token), expected) or row is None or row["revoked_at"]:
        return None
    return _record(row)


async def agent_of_token(engine: AsyncEngine, token: str) -> AgentRecord | None:
    """The active agent whose token this is, if any (for HTTP, where a bearer token comes
    without a name)."""
    async with engine.connect() as conn:
        row = (
            (await conn.execute(select(_agents).where(_agents.c.token_hash == hash_token(token))))
            .mappings()
            .first()
        )
    return _record(row) if row is not None and row["revoked_at"] is None else None
