"""Brain states: numbered versions of each AI's state.

Revision ID: 0003_brain_states
Revises: 0002_memories
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from cloudbrain.db.types import UTCDateTime

revision: str = "0003_brain_states"
down_revision: str | None = "0002_memories"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "brain_states",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("ai", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("base", sa.Integer()),
        sa.Column("merged", sa.Boolean(), nullable=False),
        sa.Column("device", sa.String(128), nullable=False),
        sa.Column("session", sa.String(64), nullable=False),
        sa.Column(
            "state", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("saved_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("ai", "version", name="uq_brain_states_ai_version"),
    )


def downgrade() -> None:
    op.drop_table("brain_states")
