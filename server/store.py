"""Every database read and write the hub does. The database is the source of truth: a message
is acknowledged to its sender only after :meth:`MessageStore.write_batch` committed it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cloudbrain.db.engine import write_transaction
from cloudbrain.db.models import agents, deliveries, messages, sessions, subscriptions
from cloudbrain.db.types import utcnow
from cloudbrain.ids import new_id
from cloudbrain.protocol import AgentInfo, RecipientState, SessionInfo
from cloudbrain.server.router import Envelope, recipients


@dataclass
class Stored:
    """What became of one message in a batch."""

    envelope: Envelope
    recipient_ids: list[str] = field(default_factory=list)  # who gets it (new messages only)
    duplicate: bool = False  # the same sender sent this id before: already stored
    conflict: bool = False  # another sender owns this id: refused
    # For a duplicate, what the receipt of the original said.
    original: tuple[datetime, int] | None = None

    @property
    def at(self) -> datetime:
        return self.original[0] if self.original else self.envelope.created_at

    @property
    def recipients(self) -> int:
        return self.original[1] if self.original else len(self.recipient_ids)


@dataclass(frozen=True)
class Pending:
    """A message waiting for its recipient, in replay order."""

    seq: int
    envelope: Envelope


class MessageStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # --- sessions ---------------------------------------------------------------------------

    async def open_session(
        self, agent_id: str, *, node: str, device: str, client: str, capabilities: list[str]
    ) -> str:
        session_id = new_id()
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                sessions.insert().values(
                    id=session_id,
                    agent_id=agent_id,
                    node=node,
                    device=device,
                    client=client,
                    capabilities=capabilities,
                    started_at=utcnow(),
                )
            )
        return session_id

    async def close_session(self, session_id: str, reason: str) -> None:
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                update(sessions)
                .where(sessions.c.id == session_id, sessions.c.ended_at.is_(None))
                .values(ended_at=utcnow(), end_reason=reason)
            )

    async def close_node_sessions(self, node: str, reason: str) -> int:
        """End sessions a previous run of this node left open (it was killed, say)."""
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(
                update(sessions)
                .where(sessions.c.node == node, sessions.c.ended_at.is_(None))
                .values(ended_at=utcnow(), end_reason=reason)
            )
        return result.rowcount

    # --- agents -----------------------------------------------------------------------------

    async def find_active_agent(self, name: str) -> str | None:
        async with self.engine.connect() as conn:
            return await conn.scalar(
                select(agents.c.id).where(agents.c.name == name, agents.c.revoked_at.is_(None))
            )

    async def revoked_since(self, since: datetime) -> list[tuple[str, datetime]]:
        """Agents revoked at or after ``since``: (id, when)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(agents.c.id, agents.c.revoked_at).where(agents.c.revoked_at >= since)
            )
            return [(row.id, row.revoked_at) for row in rows]

    async def roster(self) -> list[AgentInfo]:
        """Every active agent with its open sessions and when it was last seen."""
        async with self.engine.connect() as conn:
            agent_rows = (
                await conn.execute(
                    select(agents).where(agents.c.revoked_at.is_(None)).order_by(agents.c.name)
                )
            ).all()
            open_rows = (
                await conn.execute(
                    select(
                        sessions.c.agent_id, sessions.c.id, sessions.c.device, sessions.c.started_at
                    )
                    .where(sessions.c.ended_at.is_(None))
                    .order_by(sessions.c.started_at)
                )
            ).all()
            last_rows = (
                await conn.execute(
                    select(sessions.c.agent_id, func.max(sessions.c.ended_at)).group_by(
                        sessions.c.agent_id
                    )
                )
            ).all()
        open_by_agent: dict[str, list[SessionInfo]] = {}
        for row in open_rows:
            open_by_agent.setdefault(row.agent_id, []).append(
                SessionInfo(session=row.id, device=row.device, since=row.started_at)
            )
        last_seen = {row[0]: row[1] for row in last_rows}
        result = []
        for row in agent_rows:
            live = open_by_agent.get(row.id, [])
            result.append(
                AgentInfo(
                    name=row.name,
                    description=row.description,
                    skills=list(row.skills),
                    online=bool(live),
                    sessions=live,
                    last_seen=utcnow() if live else last_seen.get(row.id),
                )
            )
        return result

    # --- subscriptions ----------------------------------------------------------------------

    async def subscribe(self, agent_id: str, topic: str) -> None:
        try:
            async with write_transaction(self.engine) as conn:
                await conn.execute(
                    subscriptions.insert().values(
                        agent_id=agent_id, topic=topic, created_at=utcnow()
                    )
                )
        except IntegrityError:
            pass  # already subscribed: subscribing is idempotent

    async def unsubscribe(self, agent_id: str, topic: str) -> None:
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                delete(subscriptions).where(
                    subscriptions.c.agent_id == agent_id, subscriptions.c.topic == topic
                )
            )

    # --- the hot path -----------------------------------------------------------------------

    async def write_batch(
        self, envelopes: Sequence[Envelope], acks: Sequence[tuple[str, str]]
    ) -> list[Stored]:
        """Store messages and their deliveries, and mark acked deliveries, in one transaction.

        ``acks`` are (recipient agent id, message id) pairs. A message id seen before from the
        same sender is a resend: it is reported as a duplicate and stored nothing new.
        """
        results = [Stored(envelope) for envelope in envelopes]
        async with write_transaction(self.engine) as conn:
            if results:
                await self._insert_messages(conn, results)
            if acks:
                await conn.execute(
                    update(deliveries)
                    .where(
                        deliveries.c.recipient_id == bindparam("rid"),
                        deliveries.c.message_id == bindparam("mid"),
                        # An ack after the TTL sweep still means the copy arrived in time.
                        deliveries.c.state != "delivered",
                    )
                    .values(state="delivered", delivered_at=bindparam("now")),
                    [{"rid": rid, "mid": mid, "now": utcnow()} for rid, mid in acks],
                )
        return results

    async def _insert_messages(self, conn: AsyncConnection, results: list[Stored]) -> None:
        ids = [r.envelope.id for r in results]
        rows = await conn.execute(
            select(
                messages.c.id,
                messages.c.sender_id,
                messages.c.created_at,
                func.count(deliveries.c.seq),
            )
            .outerjoin(deliveries, deliveries.c.message_id == messages.c.id)
            .where(messages.c.id.in_(ids))
            .group_by(messages.c.id, messages.c.sender_id, messages.c.created_at)
        )
        earlier = {row[0]: (row[1], (row[2], row[3])) for row in rows}
        fresh: list[Stored] = []
        first_in_batch: dict[str, Stored] = {}
        repeats: list[tuple[Stored, Stored]] = []
        for result in results:
            envelope = result.envelope
            if envelope.id in earlier:
                owner, result.original = earlier[envelope.id]
                result.duplicate = owner == envelope.sender_id
                result.conflict = not result.duplicate
            elif envelope.id in first_in_batch:
                first = first_in_batch[envelope.id]
                result.duplicate = first.envelope.sender_id == envelope.sender_id
                result.conflict = not result.duplicate
                repeats.append((result, first))
            else:
                first_in_batch[envelope.id] = result
                fresh.append(result)
        if fresh:
            await self._insert_fresh(conn, fresh)
        for repeat, first in repeats:
            repeat.original = (first.envelope.created_at, len(first.recipient_ids))

    async def _insert_fresh(self, conn: AsyncConnection, fresh: list[Stored]) -> None:
        topics = {r.envelope.topic for r in fresh if r.envelope.kind == "topic"}
        subscribers: dict[str, list[str]] = {}
        if topics:
            rows = await conn.execute(
                select(subscriptions.c.topic, subscriptions.c.agent_id)
                .join(agents, agents.c.id == subscriptions.c.agent_id)
                .where(subscriptions.c.topic.in_(topics), agents.c.revoked_at.is_(None))
            )
            for topic, agent_id in rows:
                subscribers.setdefault(topic, []).append(agent_id)
        active: list[str] = []
        if any(r.envelope.kind == "broadcast" for r in fresh):
            active = list(
                (await conn.scalars(select(agents.c.id).where(agents.c.revoked_at.is_(None)))).all()
            )

        message_rows: list[dict[str, Any]] = []
        delivery_rows: list[dict[str, Any]] = []
        for result in fresh:
            e = result.envelope
            result.recipient_ids = recipients(
                e, subscribers=subscribers.get(e.topic or "", ()), active_agents=active
            )
            message_rows.append(
                {
                    "id": e.id,
                    "sender_id": e.sender_id,
                    "session_id": e.session_id,
                    "kind": e.kind,
                    "topic": e.topic,
                    "body": e.body,
                    "meta": e.meta,
                    "conversation": e.conversation,
                    "reply_to": e.reply_to,
                    "created_at": e.created_at,
                    "expires_at": e.expires_at,
                }
            )
            delivery_rows.extend(
                {"message_id": e.id, "recipient_id": rid, "state": "pending"}
                for rid in result.recipient_ids
            )
        await conn.execute(messages.insert(), message_rows)
        if delivery_rows:
            await conn.execute(deliveries.insert(), delivery_rows)

    # --- replay -----------------------------------------------------------------------------

    async def pending(
        self, agent_id: str, *, after_seq: int = 0, limit: int = 500
    ) -> list[Pending]:
        """Undelivered, unexpired messages for an agent, oldest first, after ``after_seq``."""
        sender = agents.alias("sender")
        recipient = agents.alias("recipient")
        now = utcnow()
        query = (
            select(
                deliveries.c.seq,
                messages,
                sender.c.name.label("sender_name"),
                recipient.c.name.label("recipient_name"),
                sessions.c.device,
            )
            .join(messages, messages.c.id == deliveries.c.message_id)
            .join(sender, sender.c.id == messages.c.sender_id)
            .join(recipient, recipient.c.id == deliveries.c.recipient_id)
            .join(sessions, sessions.c.id == messages.c.session_id)
            .where(
                deliveries.c.recipient_id == agent_id,
                deliveries.c.state == "pending",
                deliveries.c.seq > after_seq,
                (messages.c.expires_at.is_(None)) | (messages.c.expires_at > now),
            )
            .order_by(deliveries.c.seq)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            Pending(
                seq=row["seq"],
                envelope=Envelope(
                    id=row["id"],
                    kind=row["kind"],
                    sender_id=row["sender_id"],
                    sender_name=row["sender_name"],
                    session_id=row["session_id"],
                    device=row["device"],
                    body=row["body"],
                    meta=row["meta"],
                    created_at=row["created_at"],
                    to_id=agent_id if row["kind"] == "direct" else None,
                    to_name=row["recipient_name"] if row["kind"] == "direct" else None,
                    topic=row["topic"],
                    conversation=row["conversation"],
                    reply_to=row["reply_to"],
                    expires_at=row["expires_at"],
                ),
            )
            for row in rows
        ]

    async def expire_due(self) -> int:
        """Mark pending deliveries of messages whose TTL has run out as expired."""
        due = select(messages.c.id).where(
            messages.c.expires_at.is_not(None), messages.c.expires_at <= utcnow()
        )
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(
                update(deliveries)
                .where(deliveries.c.state == "pending", deliveries.c.message_id.in_(due))
                .values(state="expired")
            )
        return result.rowcount

    async def status(
        self, message_id: str, sender_id: str
    ) -> tuple[datetime | None, list[RecipientState]] | None:
        """Where each copy of a message stands; None unless ``sender_id`` sent it."""
        async with self.engine.connect() as conn:
            message = (
                await conn.execute(
                    select(messages.c.expires_at).where(
                        and_(messages.c.id == message_id, messages.c.sender_id == sender_id)
                    )
                )
            ).first()
            if message is None:
                return None
            rows = await conn.execute(
                select(agents.c.name, deliveries.c.state, deliveries.c.delivered_at)
                .join(agents, agents.c.id == deliveries.c.recipient_id)
                .where(deliveries.c.message_id == message_id)
                .order_by(agents.c.name)
            )
            # A copy past its TTL is expired now, even if the sweep has not marked it yet.
            overdue = message.expires_at is not None and message.expires_at <= utcnow()
            return message.expires_at, [
                RecipientState(
                    agent=name,
                    state="expired" if state == "pending" and overdue else state,
                    delivered_at=at,
                )
                for name, state, at in rows
            ]


def expiry(created_at: datetime, ttl: float | None) -> datetime | None:
    return created_at + timedelta(seconds=ttl) if ttl else None
