"""An index for recall's most-recent candidates (current memories by creation time).

Without it every search that is not limited to one agent scanned and sorted the whole table.

Revision ID: 0004_recent_memories_index
Revises: 0003_brain_states
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_recent_memories_index"
down_revision: str | None = "0003_brain_states"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_memories_current_created",
        "memories",
        ["created_at"],
        postgresql_where=sa.text("superseded_by IS NULL"),
        sqlite_where=sa.text("superseded_by IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_memories_current_created", table_name="memories")
