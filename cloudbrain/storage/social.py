"""The social graph as the database keeps it: follows, endorsements and the owner's trust.

Every change is an event in ``social_events`` (append-only: a withdrawal is a new event, and the
history can always be shown), written in the same transaction as the tables that hold what the
events add up to now (``follows``, ``endorsements``, ``owner_trust``), which is what reads
read. A change that changes nothing (following someone already followed) writes nothing and
says so (``False``).

Who may follow or endorse whom, what a skill is called and what a trust weight may be are
Familio's rules (:mod:`cloudbrain.familio.social`); this module takes changes that passed them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cloudbrain.db.engine import write_transaction
from cloudbrain.db.models import agents, endorsements, follows, owner_trust, social_events
from cloudbrain.db.types import utcnow
from cloudbrain.errors import ErrorCode, ProtocolError
from cloudbrain.ids import new_id
from cloudbrain.protocol import EndorsementInfo, Link, SocialEvent


class SocialStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # --- changes ------------------------------------------------------------------------------

    async def follow(
        self, actor: str, subject: str, *, since: datetime | None = None, note: str = ""
    ) -> bool:
        """``actor`` follows ``subject`` (since now, or ``since`` for a follow imported from
        elsewhere); False when it already did, ``not_found`` when either is no active AI
        (checked in the same transaction, so a revocation meanwhile cannot slip through)."""
        try:
            async with write_transaction(self.engine) as conn:
                await _check_agent(conn, actor)
                await _check_agent(conn, subject)
                found = await conn.scalar(
                    select(func.count())
                    .select_from(follows)
                    .where(follows.c.follower == actor, follows.c.followee == subject)
                )
                if found:
                    return False
                at = since or utcnow()
                await conn.execute(
                    follows.insert().values(follower=actor, followee=subject, since=at)
                )
                await _event(conn, "follow", actor, subject, note=note, at=at)
        except IntegrityError:  # the same follow, made at the same moment, won
            return False
        return True

    async def unfollow(self, actor: str, subject: str) -> bool:
        """False when ``actor`` did not follow ``subject``; ``not_found`` when there never
        was an AI of that name (a revoked one can still be unfollowed)."""
        async with write_transaction(self.engine) as conn:
            gone = await conn.execute(
                delete(follows).where(follows.c.follower == actor, follows.c.followee == subject)
            )
            if not gone.rowcount:
                await _check_agent(conn, subject, revoked_too=True)
                return False
            await _event(conn, "unfollow", actor, subject)
        return True

    async def endorse(self, actor: str, subject: str, skill: str, note: str) -> bool:
        """``actor`` vouches for ``subject``'s ``skill`` (a skill's name as Familio normalized
        it); False when it already did, ``not_found`` when ``subject`` is no active AI."""
        where = (
            (endorsements.c.endorser == actor)
            & (endorsements.c.agent == subject)
            & (endorsements.c.skill == skill)
        )
        try:
            async with write_transaction(self.engine) as conn:
                await _check_agent(conn, subject)
                if await conn.scalar(select(func.count()).select_from(endorsements).where(where)):
                    return False
                now = utcnow()
                await conn.execute(
                    endorsements.insert().values(
                        endorser=actor, agent=subject, skill=skill, note=note, since=now
                    )
                )
                await _event(conn, "endorse", actor, subject, skill=skill, note=note, at=now)
        except IntegrityError:  # the same endorsement, made at the same moment, won
            return False
        return True

    async def withdraw(self, actor: str, subject: str, skill: str) -> bool:
        """False when ``actor`` did not endorse ``subject``'s ``skill``; ``not_found`` when
        there never was an AI of that name."""
        async with write_transaction(self.engine) as conn:
            gone = await conn.execute(
                delete(endorsements).where(
                    endorsements.c.endorser == actor,
                    endorsements.c.agent == subject,
                    endorsements.c.skill == skill,
                )
            )
            if not gone.rowcount:
                await _check_agent(conn, subject, revoked_too=True)
                return False
            await _event(conn, "withdraw", actor, subject, skill=skill)
        return True

    async def trust(self, subject: str, weight: float) -> bool:
        """The owner's trust in ``subject`` (0 takes it away: no row); False when it is so
        already, ``not_found`` when ``subject`` is no active AI."""
        try:
            async with write_transaction(self.engine) as conn:
                await _check_agent(conn, subject)
                before = await conn.scalar(
                    select(owner_trust.c.weight).where(owner_trust.c.agent == subject)
                )
                if (before or 0.0) == weight:
                    return False
                await conn.execute(delete(owner_trust).where(owner_trust.c.agent == subject))
                now = utcnow()
                if weight > 0:
                    await conn.execute(
                        owner_trust.insert().values(agent=subject, weight=weight, since=now)
                    )
                await _event(conn, "trust", "", subject, weight=weight, at=now)
        except IntegrityError:  # the same trust, given at the same moment, won
            return False
        return True

    # --- reads --------------------------------------------------------------------------------

    async def check_agent(self, name: str) -> None:
        """``not_found`` unless ``name`` is an active AI."""
        async with self.engine.connect() as conn:
            await _check_agent(conn, name)

    async def followers(self, name: str) -> list[Link]:
        """Who follows ``name``, newest first."""
        return await self._links(follows.c.follower, follows.c.followee == name)

    async def following(self, name: str) -> list[Link]:
        """Whom ``name`` follows, newest first."""
        return await self._links(follows.c.followee, follows.c.follower == name)

    async def _links(self, other: Any, where: Any) -> list[Link]:
        query = select(other, follows.c.since).where(where).order_by(follows.c.since.desc())
        async with self.engine.connect() as conn:
            return [Link(agent=a, since=s) for a, s in await conn.execute(query)]

    async def endorsements(
        self, *, of: str | None = None, by: str | None = None, skill: str | None = None
    ) -> list[EndorsementInfo]:
        """Endorsements as they stand, newest first: received by ``of``, given by ``by``, of
        ``skill`` (a normalized name, as stored)."""
        query = select(endorsements).order_by(endorsements.c.since.desc())
        if of is not None:
            query = query.where(endorsements.c.agent == of)
        if by is not None:
            query = query.where(endorsements.c.endorser == by)
        if skill is not None:
            query = query.where(endorsements.c.skill == skill)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [EndorsementInfo.model_validate(dict(row)) for row in rows]

    async def all_follows(self) -> list[tuple[str, str]]:
        """Every (follower, followee)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(follows.c.follower, follows.c.followee))
            return [(a, b) for a, b in rows]

    async def owner_trust(self) -> dict[str, float]:
        """The AIs the owner trusts, with their weights."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(owner_trust.c.agent, owner_trust.c.weight))
            return {agent: weight for agent, weight in rows}

    async def history(
        self, name: str | None = None, *, limit: int = 50, before: int | None = None
    ) -> list[SocialEvent]:
        """Events by or about ``name`` (everyone's when None), newest first; ``before`` is a
        ``seq`` to page back from."""
        query = select(social_events).order_by(social_events.c.seq.desc()).limit(limit)
        if name is not None:
            query = query.where(or_(social_events.c.actor == name, social_events.c.subject == name))
        if before is not None:
            query = query.where(social_events.c.seq < before)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_event_info(row) for row in rows]


async def _check_agent(conn: AsyncConnection, name: str, *, revoked_too: bool = False) -> None:
    active = () if revoked_too else (agents.c.revoked_at.is_(None),)
    found = await conn.scalar(
        select(func.count()).select_from(agents).where(agents.c.name == name, *active)
    )
    if not found:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no agent named {name!r}")


async def _event(
    conn: AsyncConnection,
    kind: str,
    actor: str,
    subject: str,
    *,
    skill: str = "",
    weight: float | None = None,
    note: str = "",
    at: datetime | None = None,
) -> None:
    await conn.execute(
        social_events.insert().values(
            id=new_id(),
            kind=kind,
            actor=actor,
            subject=subject,
            skill=skill,
            weight=weight,
            note=note,
            created_at=at or utcnow(),
        )
    )


def _event_info(row: Any) -> SocialEvent:
    return SocialEvent(
        id=row["id"],
        seq=row["seq"],
        kind=row["kind"],
        actor=row["actor"],
        subject=row["subject"],
        skill=row["skill"],
        weight=row["weight"],
        note=row["note"],
        at=row["created_at"],
    )
