"""What an import of an original CloudBrain database writes besides identities, memories,
brain states and follows (which go through the stores that own them): its messages, with the
closed sessions they are recorded under.

Reading the original database and turning its rows into these is
:mod:`cloudbrain.server.legacy_import`'s job; this module takes the rows as they are to be
stored and stores them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.db.engine import write_transaction
from cloudbrain.db.models import messages, sessions
from cloudbrain.db.types import utcnow


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
