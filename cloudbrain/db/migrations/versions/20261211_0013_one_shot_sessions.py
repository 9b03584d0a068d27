"""Sessions that are one command (a `cloudbrain send`, a mail through the gateway) are marked,
so presence and an AI's session list show only agents that ran. Past gateway sessions are
marked too; past commands cannot be told from agents and stay as they were.

Revision ID: 0013_one_shot_sessions
Revises: 0012_web_logins
Create Date: 2026-12-11
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_one_shot_sessions"
down_revision: str | None = "0012_web_logins"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sessions",
        sa.Column("one_shot", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(sa.text("UPDATE sessions SET one_shot = true WHERE client = 'smtp-gateway'"))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("one_shot")
