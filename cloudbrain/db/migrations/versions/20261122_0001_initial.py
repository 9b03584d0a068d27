"""Agents, sessions, messages, deliveries and topic subscriptions.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from cloudbrain.db.types import UTCDateTime

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.Uuid(as_uuid=False)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Time = UTCDateTime()


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("skills", JSON, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("revoked_at", Time),
    )
    op.create_index("ix_agents_revoked_at", "agents", ["revoked_at"])

    op.create_table(
        "sessions",
        sa.Column("id", Id, primary_key=True),
        sa.Column("agent_id", Id, sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("node", sa.String(128), nullable=False),
        sa.Column("device", sa.String(128), nullable=False),
        sa.Column("client", sa.String(128), nullable=False),
        sa.Column("capabilities", JSON, nullable=False),
        sa.Column("started_at", Time, nullable=False),
        sa.Column("ended_at", Time),
        sa.Column("end_reason", sa.String(64)),
    )
    op.create_index("ix_sessions_agent_id", "sessions", ["agent_id"])
    op.create_index("ix_sessions_node_open", "sessions", ["node", "ended_at"])

    op.create_table(
        "subscriptions",
        sa.Column("agent_id", Id, sa.ForeignKey("agents.id"), primary_key=True),
        sa.Column("topic", sa.String(128), primary_key=True),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_index("ix_subscriptions_topic", "subscriptions", ["topic"])

    op.create_table(
        "messages",
        sa.Column("id", Id, primary_key=True),
        sa.Column("sender_id", Id, sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("session_id", Id, sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("topic", sa.String(128)),
        sa.Column("body", JSON, nullable=False),
        sa.Column("meta", JSON, nullable=False),
        sa.Column("conversation", sa.String(128)),
        sa.Column("reply_to", Id),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("expires_at", Time),
    )
    op.create_index("ix_messages_conversation", "messages", ["conversation"])
    op.create_index("ix_messages_expires_at", "messages", ["expires_at"])

    op.create_table(
        "deliveries",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("message_id", Id, sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("recipient_id", Id, sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("delivered_at", Time),
        sa.UniqueConstraint("message_id", "recipient_id", name="uq_deliveries_message_recipient"),
    )
    op.create_index(
        "ix_deliveries_recipient_state_seq", "deliveries", ["recipient_id", "state", "seq"]
    )


def downgrade() -> None:
    for table in ("deliveries", "messages", "subscriptions", "sessions", "agents"):
        op.drop_table(table)
