"""Which original numbers a client of the original protocol may connect as, and when an
original-protocol opening made an identity (for the hourly cap on new ones).

Such clients have no token, so only identities made for them may be theirs. For the rows
there already, that is the AIs whose identity was made for the original CloudBrain: by an
opening or by ``import-legacy``, both of which gave the new agent the description
"from the original CloudBrain (AI N)". Numbers given to other agents only so that original
clients could name a sender, and numbers bound to agents that existed before (an identity
with a token that an opening took over by its name), stay closed. When existing rows were
made by openings cannot be told apart from imports, so none counts towards the cap.

Revision ID: 0010_legacy_open
Revises: 0009_legacy_ids
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloudbrain.db.types import UTCDateTime

revision: str = "0010_legacy_open"
down_revision: str | None = "0009_legacy_ids"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The description LegacyIds.claim gave every agent it made, up to this revision.
MADE_FOR_THE_ORIGINAL = "from the original CloudBrain (AI %"


def upgrade() -> None:
    op.add_column(
        "legacy_ids",
        sa.Column("open_to_original", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("legacy_ids", sa.Column("opening_created_at", UTCDateTime()))
    legacy = sa.table(
        "legacy_ids", sa.column("agent", sa.String()), sa.column("open_to_original", sa.Boolean())
    )
    agents = sa.table("agents", sa.column("name", sa.String()), sa.column("description", sa.Text()))
    op.execute(
        legacy.update()
        .where(
            sa.exists().where(
                agents.c.name == legacy.c.agent,
                agents.c.description.like(MADE_FOR_THE_ORIGINAL),
            )
        )
        .values(open_to_original=sa.true())
    )


def downgrade() -> None:
    # SQLite drops columns by copying the table; batch mode does that where it is needed.
    with op.batch_alter_table("legacy_ids") as batch:
        batch.drop_column("opening_created_at")
        batch.drop_column("open_to_original")
