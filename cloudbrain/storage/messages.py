"""Messages, their deliveries, sessions and subscriptions: what the hub reads and writes to
carry messages (with the agent names and ids it routes by). The database is the source of
truth: a message is acknowledged to its sender only after :meth:`MessageStore.write_batch`
committed it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, false, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.db.engine import TransactionRunner, write_transaction
from cloudbrain.db.models import agents, deliveries, messages, sessions, subscriptions
from cloudbrain.db.types import utcnow
from cloudbrain.envelope import Envelope, Stored
from cloudbrain.ids import is_uuid, new_id
from cloudbrain.protocol import ONE_SHOT_CAPABILITY, AgentInfo, RecipientState, SessionInfo
from cloudbrain.storage.message_batch import store_batch


@dataclass(frozen=True)
class Pending:
    """A message waiting for its recipient, in replay order."""

    seq: int
    recipient_id: str
    envelope: Envelope


class MessageStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._runner = TransactionRunner(engine)

    def close(self) -> None:
        self._runner.close()

    # --- sessions ---------------------------------------------------------------------------

    async def open_session(
        self,
        agent_id: str,
        *,
        node: str,
        device: str,
        client: str,
        capabilities: list[str],
        skills: Sequence[str] = (),
    ) -> str:
        """Record a new session; ``skills`` are added to the agent's declared skills."""
        session_id = new_id()
        async with write_transaction(self.engine) as conn:
            if skills:
                known = await conn.scalar(select(agents.c.skills).where(agents.c.id == agent_id))
                merged = sorted({*(known or []), *skills})
                if merged != sorted(known or []):
                    await conn.execute(
                        update(agents).where(agents.c.id == agent_id).values(skills=merged)
                    )
            await conn.execute(
                sessions.insert().values(
                    id=session_id,
                    agent_id=agent_id,
                    node=node,
                    device=device,
                    client=client,
                    capabilities=capabilities,
                    one_shot=ONE_SHOT_CAPABILITY in capabilities,
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

    async def agent_names(self, agent_ids: Iterable[str]) -> dict[str, str]:
        """id -> name of the agents with these ids."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(agents.c.id, agents.c.name).where(agents.c.id.in_(list(agent_ids)))
            )
            return {row.id: row.name for row in rows}

    async def session_agents(self, session_ids: Iterable[str]) -> dict[str, str]:
        """session id -> agent id, for those of these ids that are sessions of this server."""
        wanted = [i for i in set(session_ids) if is_uuid(i)]
        if not wanted:
            return {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(sessions.c.id, sessions.c.agent_id).where(sessions.c.id.in_(wanted))
            )
            return {str(row.id): str(row.agent_id) for row in rows}

    async def last_delivery(self) -> int:
        """The position of the newest delivery stored (0 when there is none)."""
        async with self.engine.connect() as conn:
            return int(await conn.scalar(select(func.max(deliveries.c.seq))) or 0)

    async def nodes_with_open_sessions(self) -> list[str]:
        """The nodes that have sessions open in the database."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(sessions.c.node).where(sessions.c.ended_at.is_(None)).distinct()
            )
            return [row[0] for row in rows]

    async def agents_with_pending(self) -> list[str]:
        """Ids of the agents that have messages waiting for them."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(deliveries.c.recipient_id).where(deliveries.c.state == "pending").distinct()
            )
            return [row[0] for row in rows]

    async def count_pending(self) -> int:
        """How many message copies wait for their recipients. Counted agent by agent through
        the (recipient, state) index, so the cost follows the agents and what is pending, not
        the deliveries ever stored."""
        # A subquery per agent rather than a join: a planner may otherwise scan the whole
        # index (SQLite, without statistics, does).
        each = (
            select(func.count())
            .where(deliveries.c.recipient_id == agents.c.id, deliveries.c.state == "pending")
            .correlate(agents)
            .scalar_subquery()
        )
        query = select(func.sum(each)).select_from(agents)
        async with self.engine.connect() as conn:
            return int(await conn.scalar(query) or 0)

    async def revoked_since(self, since: datetime) -> list[tuple[str, datetime]]:
        """Agents revoked at or after ``since``: (id, when)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(agents.c.id, agents.c.revoked_at).where(agents.c.revoked_at >= since)
            )
            return [(row.id, row.revoked_at) for row in rows]

    async def roster(self, name: str | None = None) -> list[AgentInfo]:
        """Every active agent (or the one called ``name``) with its open sessions and when it
        was last seen."""
        mine = (agents.c.revoked_at.is_(None),) + ((agents.c.name == name,) if name else ())
        theirs = sessions.join(agents, agents.c.id == sessions.c.agent_id)
        async with self.engine.connect() as conn:
            agent_rows = (
                await conn.execute(select(agents).where(*mine).order_by(agents.c.name))
            ).all()
            open_rows = (
                await conn.execute(
                    select(
                        sessions.c.agent_id, sessions.c.id, sessions.c.device, sessions.c.started_at
                    )
                    .select_from(theirs)
                    .where(sessions.c.ended_at.is_(None), sessions.c.one_shot.is_(false()), *mine)
                    .order_by(sessions.c.started_at)
                )
            ).all()
            last_rows = (
                await conn.execute(
                    select(sessions.c.agent_id, func.max(sessions.c.ended_at))
                    .select_from(theirs)
                    .where(*mine)
                    .group_by(sessions.c.agent_id)
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
        self, envelopes: Sequence[Envelope], acks: Sequence[tuple[str, str]], *, retry: bool = False
    ) -> list[Stored]:
        """Store messages and their deliveries, and mark acked deliveries, in one transaction.
        See :func:`cloudbrain.storage.message_batch.store_batch`."""
        return await self._runner.run(lambda conn: store_batch(conn, envelopes, acks, retry=retry))

    # --- replay -----------------------------------------------------------------------------

    async def pending(
        self,
        agent_id: str | None,
        *,
        after_seq: int = 0,
        limit: int = 500,
        among: Sequence[str] | None = None,
    ) -> list[Pending]:
        """Undelivered, unexpired messages for an agent (for anyone: None; or for the agents
        ``among``), oldest first, after ``after_seq``."""
        sender = agents.alias("sender")
        recipient = agents.alias("recipient")
        now = utcnow()
        query = (
            select(
                deliveries.c.seq,
                deliveries.c.recipient_id,
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
                *((deliveries.c.recipient_id == agent_id,) if agent_id is not None else ()),
                *((deliveries.c.recipient_id.in_(among),) if among is not None else ()),
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
                recipient_id=row["recipient_id"],
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
                    to_id=row["recipient_id"] if row["kind"] == "direct" else None,
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
