"""Logins to the web view: people log in with an agent's token and get a cookie; the server
keeps the SHA-256 of its value, so logout, expiry and revocation end it at once.

Revision ID: 0012_web_logins
Revises: 0011_learned_weight
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloudbrain.db.types import UTCDateTime

revision: str = "0012_web_logins"
down_revision: str | None = "0011_learned_weight"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.Uuid(as_uuid=False)


def upgrade() -> None:
    op.create_table(
        "web_logins",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("agent_id", Id, sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_web_logins_agent_id", "web_logins", ["agent_id"])
    op.create_index("ix_web_logins_used_at", "web_logins", ["used_at"])


def downgrade() -> None:
    op.drop_index("ix_web_logins_used_at", table_name="web_logins")
    op.drop_index("ix_web_logins_agent_id", table_name="web_logins")
    op.drop_table("web_logins")
