"""What an import of an original CloudBrain database writes besides identities, memories and
brain states: its messages (with the closed sessions they are recorded under) and its follows.

Reading the original database and turning its rows into these is
:mod:`cloudbrain.server.legacy_import`'s job; this module takes the rows as they are to be
stored and stores them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.db.engine import write_transaction
from cloudbrain.db.models import agents, follows, messages, sessions, social_events
from cloudbrain.db.types import utcnow
from cloudbrain.ids import new_id


@dataclass(frozen=True)
class ImportSession:
    """A session that never ran: the one an imported AI's messages are recorded under."""

    id: str
    agent_id: str
    node: str
    device: str
    client: str
    end_reason: str


@dataclass(frozen=True)
class ImportedMessage:
    """A broadcast of an imported AI, as it is stored."""

    id: str
    session: ImportSession
    body: str
    meta: dict[str, Any]
    conversation: str
    created_at: datetime


class LegacyImportStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def known_messages(self, ids: Collection[str]) -> set[str]:
        """Which of the messages ``ids`` are stored already."""
        async with self.engine.connect() as conn:
            return set(
                await conn.scalars(select(messages.c.id).where(messages.c.id.in_(list(ids))))
            )

    async def add_messages(self, found: Sequence[ImportedMessage]) -> None:
        """Store messages, and the sessions they are recorded under unless stored already,
        in one transaction."""
        async with write_transaction(self.engine) as conn:
            for session in {message.session for message in found}:
                if await conn.scalar(select(sessions.c.id).where(sessions.c.id == session.id)):
                    continue
                moment = utcnow()
                await conn.execute(
                    sessions.insert().values(
                        id=session.id,
                        agent_id=session.agent_id,
                        node=session.node,
                        device=session.device,
                        client=session.client,
                        capabilities=[],
                        started_at=moment,
                        ended_at=moment,
                        end_reason=session.end_reason,
                    )
                )
            for message in found:
                await conn.execute(
                    messages.insert().values(
                        id=message.id,
                        sender_id=message.session.agent_id,
                        session_id=message.session.id,
                        kind="broadcast",
                        body=message.body,
                        meta=message.meta,
                        conversation=message.conversation,
                        created_at=message.created_at,
                    )
                )

    async def add_follow(self, follower: str, followee: str, since: datetime, note: str) -> bool:
        """Record that ``follower`` follows ``followee`` since ``since``, as Familio records a
        follow (the ``follows`` row and its ``follow`` event, in one transaction) but dated
        ``since`` rather than now; False when it is there already or either AI is revoked
        (checked in the same transaction, so a revocation meanwhile cannot slip through)."""
        pair = (follows.c.follower == follower) & (follows.c.followee == followee)
        try:
            async with write_transaction(self.engine) as conn:
                alive = await conn.scalar(
                    select(func.count())
                    .select_from(agents)
                    .where(agents.c.name.in_([follower, followee]), agents.c.revoked_at.is_(None))
                )
                if alive != 2 or await conn.scalar(
                    select(func.count()).select_from(follows).where(pair)
                ):
                    return False
                await conn.execute(
                    follows.insert().values(follower=follower, followee=followee, since=since)
                )
                await conn.execute(
                    social_events.insert().values(
                        id=new_id(),
                        kind="follow",
                        actor=follower,
                        subject=followee,
                        note=note,
                        created_at=since,
                    )
                )
        except IntegrityError:  # the same follow, made at the same moment elsewhere
            return False
        return True
