"""Asks, their ranked answers, and feedback on answers.

Revision ID: 0006_asks
Revises: 0005_memory_positions
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from cloudbrain.db.types import UTCDateTime

revision: str = "0006_asks"
down_revision: str | None = "0005_memory_positions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.Uuid(as_uuid=False)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "asks",
        sa.Column("id", Id, primary_key=True),
        sa.Column("asker", sa.String(64), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("topics", JSON, nullable=False),
        sa.Column("options", JSON, nullable=False),
        sa.Column("specialists", JSON, nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("missing", JSON, nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_asks_created_at", "asks", ["created_at"])
    op.create_index("ix_asks_asker_created", "asks", ["asker", "created_at"])
    op.create_table(
        "ask_answers",
        sa.Column("id", Id, primary_key=True),
        sa.Column("ask_id", Id, sa.ForeignKey("asks.id"), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("knows", sa.Boolean(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("relevance", sa.Float(), nullable=False),
        sa.Column("reputation", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("session", sa.String(64), nullable=False),
        sa.Column("device", sa.String(128), nullable=False),
        sa.Column("model", sa.String(128)),
        sa.Column("memories", JSON, nullable=False),
        sa.Column("also", JSON, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_ask_answers_ask_id", "ask_answers", ["ask_id"])
    op.create_index("ix_ask_answers_agent", "ask_answers", ["agent"])
    op.create_table(
        "feedback",
        sa.Column("id", Id, primary_key=True),
        sa.Column("ask_id", Id, sa.ForeignKey("asks.id"), nullable=False),
        sa.Column("answer_id", Id, sa.ForeignKey("ask_answers.id"), nullable=False),
        sa.Column("rater", sa.String(64), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_feedback_ask_id", "feedback", ["ask_id"])
    op.create_index("ix_feedback_answer_id", "feedback", ["answer_id"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("ask_answers")
    op.drop_table("asks")
