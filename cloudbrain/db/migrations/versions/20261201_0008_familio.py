"""Familio: the social events (follow, endorse, the owner's trust), what they add up to now,
and computed reputation.

Revision ID: 0008_familio
Revises: 0007_memories_ai_seq
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from cloudbrain.db.types import UTCDateTime

revision: str = "0008_familio"
down_revision: str | None = "0007_memories_ai_seq"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.Uuid(as_uuid=False)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "social_events",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("id", Id, nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("skill", sa.String(128), nullable=False),
        sa.Column("weight", sa.Float()),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_social_events_subject_seq", "social_events", ["subject", "seq"])
    op.create_index("ix_social_events_actor_seq", "social_events", ["actor", "seq"])
    op.create_table(
        "follows",
        sa.Column("follower", sa.String(64), primary_key=True),
        sa.Column("followee", sa.String(64), primary_key=True),
        sa.Column("since", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_follows_followee", "follows", ["followee"])
    op.create_table(
        "endorsements",
        sa.Column("endorser", sa.String(64), primary_key=True),
        sa.Column("agent", sa.String(64), primary_key=True),
        sa.Column("skill", sa.String(128), primary_key=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_endorsements_agent_skill", "endorsements", ["agent", "skill"])
    op.create_table(
        "owner_trust",
        sa.Column("agent", sa.String(64), primary_key=True),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "reputation",
        sa.Column("agent", sa.String(64), primary_key=True),
        sa.Column("skill", sa.String(128), primary_key=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("trust", sa.Float(), nullable=False),
        sa.Column("parts", JSON, nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reputation")
    op.drop_table("owner_trust")
    op.drop_index("ix_endorsements_agent_skill", table_name="endorsements")
    op.drop_table("endorsements")
    op.drop_index("ix_follows_followee", table_name="follows")
    op.drop_table("follows")
    op.drop_index("ix_social_events_actor_seq", table_name="social_events")
    op.drop_index("ix_social_events_subject_seq", table_name="social_events")
    op.drop_table("social_events")
