"""AI identities: create, list, revoke (and prune the fresh ones), authenticate.

A token is shown once, when the agent is created; the database keeps only its SHA-256. Tokens
are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection, Sequence
from datetime import datetime

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.db.types import utcnow
from cloudbrain.errors import CloudBrainError
from cloudbrain.ids import new_id
from cloudbrain.protocol import AgentName
from cloudbrain.storage.agents import AgentRecord, AgentStore

TOKEN_PREFIX = "cb_"
_name_adapter: TypeAdapter[str] = TypeAdapter(AgentName)


class AgentExists(CloudBrainError):
    pass


class AgentNotFound(CloudBrainError):
    pass


class InvalidName(CloudBrainError):
    pass


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


async def create_agent(
    engine: AsyncEngine, name: str, *, description: str = "", skills: list[str] | None = None
) -> tuple[AgentRecord, str]:
    """Register a new agent; returns its record and its token (the only time it is visible)."""
    check_name(name)
    if any(not skill.strip() for skill in skills or []):
        raise CloudBrainError("a skill needs a name", hint="e.g. --skill python")
    token = new_token()
    record = AgentRecord(
        id=new_id(),
        name=name,
        description=description,
        skills=sorted(set(skills or [])),
        created_at=utcnow(),
        revoked_at=None,
    )
    if not await AgentStore(engine).add(record, hash_token(token)):
        raise AgentExists(
            f"an agent named {name!r} already exists",
            hint="names stay reserved even after revocation, so old messages keep their author; pick another name",
        )
    return record, token


async def list_agents(engine: AsyncEngine, *, include_revoked: bool = False) -> list[AgentRecord]:
    return await AgentStore(engine).listing(include_revoked=include_revoked)


def made_since(records: Sequence[AgentRecord], since: datetime) -> list[AgentRecord]:
    """The active identities among ``records`` made at ``since`` or later."""
    return [r for r in records if r.active and r.created_at >= since]


async def prune_agents(
    engine: AsyncEngine, since: datetime, keep: Collection[str] = (), *, revoke: bool
) -> list[AgentRecord]:
    """The active identities made since ``since``, but those named in ``keep``: the ones a
    flood of sign-ups would have made. Revoked when ``revoke``, else only listed."""
    everyone = await list_agents(engine)
    unknown = sorted(set(keep) - {r.name for r in everyone})
    if unknown:  # a typo in --keep would otherwise revoke the very agent meant to be kept
        raise AgentNotFound(
            f"no agent named {', '.join(map(repr, unknown))} to keep",
            hint="`cloudbrain agent list` shows the agents there are",
        )
    found = [r for r in made_since(everyone, since) if r.name not in keep]
    if revoke:
        return [await revoke_agent(engine, r.name) for r in found]
    return found


async def get_agent(engine: AsyncEngine, name: str) -> AgentRecord | None:
    return await AgentStore(engine).get(name)


async def revoke_agent(engine: AsyncEngine, name: str) -> AgentRecord:
    """Revoke an agent's identity: its token stops working and running servers close its
    connections within a second or so."""
    record = await AgentStore(engine).revoke(name)
    if record is None:
        raise AgentNotFound(
            f"no agent named {name!r}", hint="`cloudbrain agent list` shows the agents there are"
        )
    return record


async def authenticate(engine: AsyncEngine, name: str, token: str) -> AgentRecord | None:
    """The agent if ``token`` is its token and it is not revoked; None otherwise."""
    found = await AgentStore(engine).credential(name)
    # Compare even for an unknown name, so the answer takes as long either way.
    expected = found.token_hash if found else "0" * 64
    if not hmac.compare_digest(hash_token(token), expected) or found is None:
        return None
    return found.agent if found.agent.active else None


async def agent_of_token(engine: AsyncEngine, token: str) -> AgentRecord | None:
    """The active agent whose token this is, if any (for HTTP, where a bearer token comes
    without a name)."""
    agent = await AgentStore(engine).by_token_hash(hash_token(token))
    return agent if agent is not None and agent.active else None
