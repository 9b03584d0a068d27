"""The weight of each learned skill, worked out with reputation: a rating of an AI's answers
counts as much as its rater is trusted, so learned skills are kept beside the per-skill score
rather than counted from ratings when read.

Revision ID: 0011_learned_weight
Revises: 0010_legacy_open
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_learned_weight"
down_revision: str | None = "0010_legacy_open"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "reputation", sa.Column("learned", sa.Float(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    with op.batch_alter_table("reputation") as batch:
        batch.drop_column("learned")
