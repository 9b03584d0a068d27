"""The tables. Ids are UUIDv7 strings (native ``uuid`` on PostgreSQL), so rows made on different
machines never collide and sort by creation time."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cloudbrain.db.types import BigIntPK, JSONType, UTCDateTime, utcnow
from cloudbrain.ids import new_id

IdType = Uuid(as_uuid=False)


class Base(DeclarativeBase):
    pass


class Agent(Base):
    """An AI identity. The token itself is never stored, only its SHA-256."""

    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    skills: Mapped[list[str]] = mapped_column(JSONType, default=list)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class AgentSession(Base):
    """One connection of an agent: which device, which client, when it started and ended."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"), index=True)
    node: Mapped[str] = mapped_column(String(128))
    device: Mapped[str] = mapped_column(String(128), default="")
    client: Mapped[str] = mapped_column(String(128), default="")
    capabilities: Mapped[list[str]] = mapped_column(JSONType, default=list)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_sessions_node_open", "node", "ended_at"),)


class Message(Base):
    """A message as the server accepted it: the envelope, stamped with sender and session."""

    __tablename__ = "messages"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    sender_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"))
    kind: Mapped[str] = mapped_column(String(16))  # direct | topic | broadcast
    topic: Mapped[str | None] = mapped_column(String(128))
    body: Mapped[Any] = mapped_column(JSONType)
    meta: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    conversation: Mapped[str | None] = mapped_column(String(128), index=True)
    reply_to: Mapped[str | None] = mapped_column(IdType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class Delivery(Base):
    """One recipient of one message, and how far its delivery got.

    ``seq`` orders replay: it grows in the order the server accepted messages, so messages from
    one sender reach one recipient in the order they were sent.
    """

    __tablename__ = "deliveries"

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id"))
    recipient_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|delivered|expired
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("message_id", "recipient_id", name="uq_deliveries_message_recipient"),
        Index("ix_deliveries_recipient_state_seq", "recipient_id", "state", "seq"),
    )


class Subscription(Base):
    """An agent's durable subscription to a topic: it outlives the agent's connections."""

    __tablename__ = "subscriptions"

    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"), primary_key=True)
    topic: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Core handles on the tables, for bulk statements on the hot path (typed as Table: the ORM
# declares ``__table__`` as the more general FromClause).
agents = cast(Table, Agent.__table__)
sessions = cast(Table, AgentSession.__table__)
messages = cast(Table, Message.__table__)
deliveries = cast(Table, Delivery.__table__)
subscriptions = cast(Table, Subscription.__table__)
