"""An index for one AI's memories in storage order: what a device asks for when it syncs.

Without it, each sync (every connected agent, every few seconds) walked every memory stored
after the agent's last position, whoever stored it.

Revision ID: 0007_memories_ai_seq
Revises: 0006_asks
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_memories_ai_seq"
down_revision: str | None = "0006_asks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_memories_ai_seq", "memories", ["ai", "seq"])


def downgrade() -> None:
    op.drop_index("ix_memories_ai_seq", table_name="memories")
