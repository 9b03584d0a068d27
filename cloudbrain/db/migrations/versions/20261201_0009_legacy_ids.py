"""The numbers AIs have in the original CloudBrain, for its clients and for imports.

Revision ID: 0009_legacy_ids
Revises: 0008_familio
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_legacy_ids"
down_revision: str | None = "0008_familio"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "legacy_ids",
        sa.Column("legacy_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("agent", sa.String(64), nullable=False, unique=True),
        sa.Column("nickname", sa.String(128), nullable=False),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("state_imported", sa.String(64)),
    )


def downgrade() -> None:
    op.drop_table("legacy_ids")
