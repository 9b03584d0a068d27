"""Logins to the web view as the database keeps them: the SHA-256 of a cookie's value, the
agent it acts as, when it was made and last used.

The rules (how long a login lasts, how many an agent may have, how a cookie is made) are
:mod:`cloudbrain.familio.logins`'s; this module stores a login and reads it back, and only
ever returns one whose agent is not revoked, so revoking an agent ends its logins at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cloudbrain.db.engine import write_transaction
from cloudbrain.db.models import agents, web_logins


@dataclass(frozen=True)
class WebLoginRow:
    agent: str  # the agent's name
    created_at: datetime
    used_at: datetime


class WebLoginStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(
        self, id_hash: str, agent: str, now: datetime, *, keep: int, expired: Expired
    ) -> bool:
        """Store a login of ``agent`` made ``now``; then delete every expired login, and the
        agent's least recently used ones past the newest ``keep``. False when there is no
        active agent of that name (revoked since its token was checked)."""
        async with write_transaction(self.engine) as conn:
            agent_id = (
                await conn.execute(
                    select(agents.c.id).where(agents.c.name == agent, agents.c.revoked_at.is_(None))
                )
            ).scalar_one_or_none()
            if agent_id is None:
                return False
            await conn.execute(
                web_logins.insert().values(
                    id_hash=id_hash, agent_id=agent_id, created_at=now, used_at=now
                )
            )
            await _delete_expired(conn, expired)
            kept = (
                select(web_logins.c.id_hash)
                .where(web_logins.c.agent_id == agent_id)
                .order_by(web_logins.c.used_at.desc(), web_logins.c.created_at.desc())
                .limit(keep)
            )
            await conn.execute(
                delete(web_logins).where(
                    web_logins.c.agent_id == agent_id,
                    web_logins.c.id_hash.not_in(kept.scalar_subquery()),
                )
            )
        return True

    async def find(self, id_hash: str, expired: Expired) -> WebLoginRow | None:
        """The login with this hash, unless it has expired or its agent is revoked."""
        query = (
            select(agents.c.name, web_logins.c.created_at, web_logins.c.used_at)
            .join(agents, agents.c.id == web_logins.c.agent_id)
            .where(
                web_logins.c.id_hash == id_hash,
                agents.c.revoked_at.is_(None),
                web_logins.c.created_at > expired.made_before,
                web_logins.c.used_at > expired.unused_since,
            )
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return WebLoginRow(row.name, row.created_at, row.used_at) if row is not None else None

    async def used(self, id_hash: str, now: datetime) -> None:
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                update(web_logins).where(web_logins.c.id_hash == id_hash).values(used_at=now)
            )

    async def remove(self, id_hash: str) -> bool:
        """Delete a login (logout); False when there was none."""
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(delete(web_logins).where(web_logins.c.id_hash == id_hash))
        return bool(result.rowcount)

    async def count(self, agent: str) -> int:
        """How many logins ``agent`` has stored, expired or not."""
        query = (
            select(func.count())
            .select_from(web_logins.join(agents, agents.c.id == web_logins.c.agent_id))
            .where(agents.c.name == agent)
        )
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())


@dataclass(frozen=True)
class Expired:
    """Which logins have expired: made before ``made_before``, or last used before
    ``unused_since``."""

    made_before: datetime
    unused_since: datetime


async def _delete_expired(conn: AsyncConnection, expired: Expired) -> None:
    await conn.execute(
        delete(web_logins).where(
            or_(
                web_logins.c.created_at <= expired.made_before,
                web_logins.c.used_at <= expired.unused_since,
            )
        )
    )
