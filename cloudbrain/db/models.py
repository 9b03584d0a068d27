"""The tables. Ids are UUIDv7 strings (native ``uuid`` on PostgreSQL), so rows made on different
machines never collide and sort by creation time."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    false,
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
    # One command rather than a running agent: left out of presence and session lists.
    one_shot: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

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


class Memory(Base):
    """Something an AI learned: an exchange, a fact or a note, with where and when.

    The same table holds the server's memories and each agent's device-local cache, so ``ai``,
    ``session`` and ``device`` are names, not foreign keys. ``id`` is global (merging two
    copies is a union); ``seq`` is local, orders changes for sync, and keys full-text search.
    ``content`` is the text recall searches.
    """

    __tablename__ = "memories"

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(IdType, unique=True)
    ai: Mapped[str] = mapped_column(String(64))
    session: Mapped[str] = mapped_column(String(64), default="")
    device: Mapped[str] = mapped_column(String(128), default="")
    conversation: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # exchange | fact | note
    user_input: Mapped[str] = mapped_column(Text, default="")
    ai_response: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[str] = mapped_column(Text)
    model_used: Mapped[str | None] = mapped_column(String(128))
    facts_extracted: Mapped[list[str]] = mapped_column(JSONType, default=list)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)  # float32, little-endian
    embedder: Mapped[str | None] = mapped_column(String(64))
    importance: Mapped[float] = mapped_column(Float, default=0.5)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Facts: the normalized subject they are about, how often they were seen, and the newer
    # fact that replaced this one (the old one stays, so history is readable).
    fact_key: Mapped[str | None] = mapped_column(String(256), index=True)
    count: Mapped[int] = mapped_column(Integer, default=1)
    superseded_by: Mapped[str | None] = mapped_column(IdType)

    __table_args__ = (
        Index("ix_memories_ai_created", "ai", "created_at"),
        Index("ix_memories_ai_seq", "ai", "seq"),  # one AI's memories in order: sync
        # A position is never given out twice, even after the newest memory is deleted (to
        # be stored again, changed): sync relies on that. PostgreSQL sequences already work so.
        {"sqlite_autoincrement": True},
    )


class BrainSnapshot(Base):
    """One saved version of an AI's brain state. Versions only accumulate: history stays."""

    __tablename__ = "brain_states"

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    ai: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    base: Mapped[int | None] = mapped_column(Integer)  # the version the saver had loaded
    merged: Mapped[bool] = mapped_column(default=False)  # True when another save came between
    device: Mapped[str] = mapped_column(String(128), default="")
    session: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[dict[str, Any]] = mapped_column(JSONType)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("ai", "version", name="uq_brain_states_ai_version"),)


class AskRecord(Base):
    """A question put to the family, with the choice of specialists and the outcome.

    AIs are named, not linked by id: names are never reused, and a listing of asks needs no
    join to read."""

    __tablename__ = "asks"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    asker: Mapped[str] = mapped_column(String(64))
    question: Mapped[str] = mapped_column(Text)
    topics: Mapped[list[str]] = mapped_column(JSONType, default=list)
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    specialists: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    summary: Mapped[str] = mapped_column(Text, default="")
    missing: Mapped[list[str]] = mapped_column(JSONType, default=list)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (Index("ix_asks_asker_created", "asker", "created_at"),)


class AskAnswerRecord(Base):
    """One answer of an ask, as ranked in its result (``rank`` 0 is the best)."""

    __tablename__ = "ask_answers"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    ask_id: Mapped[str] = mapped_column(ForeignKey("asks.id"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    agent: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(16))  # live | memory
    text: Mapped[str] = mapped_column(Text)
    knows: Mapped[bool] = mapped_column(Boolean)
    confidence: Mapped[float] = mapped_column(Float)
    relevance: Mapped[float] = mapped_column(Float)
    reputation: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    session: Mapped[str] = mapped_column(String(64), default="")
    device: Mapped[str] = mapped_column(String(128), default="")
    model: Mapped[str | None] = mapped_column(String(128))
    memories: Mapped[list[str]] = mapped_column(JSONType, default=list)
    also: Mapped[list[str]] = mapped_column(JSONType, default=list)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Feedback(Base):
    """A rating of an answer. Ratings only accumulate; a rater's latest one counts."""

    __tablename__ = "feedback"

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    ask_id: Mapped[str] = mapped_column(ForeignKey("asks.id"), index=True)
    answer_id: Mapped[str] = mapped_column(ForeignKey("ask_answers.id"), index=True)
    rater: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))  # up | down | accept
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SocialEvent(Base):
    """One change to the social graph, as it happened: follow, unfollow, endorse, withdraw, or
    the owner's trust. Events only accumulate, so history can be shown; the tables below hold
    what they add up to now. ``actor`` is the AI that acted (empty for the owner's trust)."""

    __tablename__ = "social_events"

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(IdType, unique=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16))  # follow|unfollow|endorse|withdraw|trust
    actor: Mapped[str] = mapped_column(String(64), default="")
    subject: Mapped[str] = mapped_column(String(64))
    skill: Mapped[str] = mapped_column(String(128), default="")
    weight: Mapped[float | None] = mapped_column(Float)  # trust only
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_social_events_subject_seq", "subject", "seq"),
        Index("ix_social_events_actor_seq", "actor", "seq"),
        {"sqlite_autoincrement": True},
    )


class Follow(Base):
    """Who follows whom now (the sum of the follow and unfollow events)."""

    __tablename__ = "follows"

    follower: Mapped[str] = mapped_column(String(64), primary_key=True)
    followee: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime)


class Endorsement(Base):
    """Who endorses whom for which skill now (the sum of endorse and withdraw events)."""

    __tablename__ = "endorsements"

    endorser: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent: Mapped[str] = mapped_column(String(64), primary_key=True)
    skill: Mapped[str] = mapped_column(String(128), primary_key=True)
    note: Mapped[str] = mapped_column(Text, default="")
    since: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_endorsements_agent_skill", "agent", "skill"),)


class OwnerTrust(Base):
    """The trust the owner of the server gives an AI: the seed of reputation."""

    __tablename__ = "owner_trust"

    agent: Mapped[str] = mapped_column(String(64), primary_key=True)
    weight: Mapped[float] = mapped_column(Float)
    since: Mapped[datetime] = mapped_column(UTCDateTime)


class ReputationScore(Base):
    """An AI's reputation as last computed, globally (``skill`` empty) or for one skill, with
    the parts it is made of."""

    __tablename__ = "reputation"

    agent: Mapped[str] = mapped_column(String(64), primary_key=True)
    skill: Mapped[str] = mapped_column(String(128), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    trust: Mapped[float] = mapped_column(Float)
    parts: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    waiting: Mapped[int] = mapped_column(Integer, default=0)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Per skill: the weight of what the AI learned of it from trusted ratings of its answers.
    learned: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")


class LegacyId(Base):
    """The number an AI has in the original CloudBrain (its ``ai_id``), for clients of the
    original protocol and for imports of an original database. AIs that never had one get
    the next free number when a legacy client first needs to name them: having a number
    does not make an AI one that original clients may be (``open_to_original`` does)."""

    __tablename__ = "legacy_ids"

    legacy_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    agent: Mapped[str] = mapped_column(String(64), unique=True)
    nickname: Mapped[str] = mapped_column(String(128), default="")
    project: Mapped[str] = mapped_column(String(128), default="")
    version: Mapped[str] = mapped_column(String(64), default="")
    state_imported: Mapped[str | None] = mapped_column(String(64))  # last_activity imported
    # Whether a client of the original protocol, which has no token, may connect as this AI:
    # only identities made for such clients (by their opening, or by import-legacy) are.
    open_to_original: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When an original-protocol opening made this identity (None: something else made it);
    # what the hourly cap on such new identities counts, so a restart does not reset it.
    opening_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebLogin(Base):
    """A person logged in to the web view with an agent's token: what their cookie stands for.
    Only the SHA-256 of the cookie's value is kept, so a copy of the database logs no one in.
    Rows are deleted on logout, when they expire, and past the cap of logins per agent."""

    __tablename__ = "web_logins"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Last use, written at most every few minutes: what idle expiry is counted from.
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


# Core handles on the tables, for bulk statements on the hot path (typed as Table: the ORM
# declares ``__table__`` as the more general FromClause).
agents = cast(Table, Agent.__table__)
sessions = cast(Table, AgentSession.__table__)
messages = cast(Table, Message.__table__)
deliveries = cast(Table, Delivery.__table__)
subscriptions = cast(Table, Subscription.__table__)
memories = cast(Table, Memory.__table__)
brain_states = cast(Table, BrainSnapshot.__table__)
asks = cast(Table, AskRecord.__table__)
ask_answers = cast(Table, AskAnswerRecord.__table__)
feedback = cast(Table, Feedback.__table__)
social_events = cast(Table, SocialEvent.__table__)
follows = cast(Table, Follow.__table__)
endorsements = cast(Table, Endorsement.__table__)
owner_trust = cast(Table, OwnerTrust.__table__)
reputation = cast(Table, ReputationScore.__table__)
legacy_ids = cast(Table, LegacyId.__table__)
web_logins = cast(Table, WebLogin.__table__)

# Search structures that SQLAlchemy's metadata cannot describe; the migrations make them and
# schema comparisons leave them out: SQLite's FTS5 index and PostgreSQL's tsvector column.
UNMODELLED = frozenset(
    {
        "memories_fts",
        "memories_fts_config",
        "memories_fts_data",
        "memories_fts_docsize",
        "memories_fts_idx",
        "search",
        "ix_memories_search",
    }
)


def is_modelled(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic's ``include_object`` hook: compare only what the models describe."""
    return name not in UNMODELLED
