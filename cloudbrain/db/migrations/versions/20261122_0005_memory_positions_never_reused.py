"""Memory positions are never reused; the recent-memories index goes.

A memory whose count or successor changes is stored again at a new position (``seq``), so
that sync carries the change. SQLite without AUTOINCREMENT gives a new row the largest rowid
plus one, so replacing the newest memory gave it back its old position and a device that had
already synced up to it never saw the change. AUTOINCREMENT needs the table rebuilt (the
full-text triggers go with the old table and are made again). PostgreSQL sequences never
reuse values: only the index changes there.

Recall compares meaning in an in-memory index over all memories now, so nothing asks for the
most recent memories by creation time any more.

Revision ID: 0005_memory_positions
Revises: 0004_recent_memories_index
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from cloudbrain.db.types import UTCDateTime

revision: str = "0005_memory_positions"
down_revision: str | None = "0004_recent_memories_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.Uuid(as_uuid=False)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

SQLITE_TRIGGERS = [
    """CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
        INSERT INTO memories_fts(rowid, content) VALUES (new.seq, new.content); END""",
    """CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
        INSERT INTO memories_fts(memories_fts, rowid, content)
        VALUES ('delete', old.seq, old.content); END""",
    """CREATE TRIGGER memories_fts_update AFTER UPDATE OF content ON memories BEGIN
        INSERT INTO memories_fts(memories_fts, rowid, content)
        VALUES ('delete', old.seq, old.content);
        INSERT INTO memories_fts(rowid, content) VALUES (new.seq, new.content); END""",
]


def upgrade() -> None:
    op.drop_index("ix_memories_current_created", table_name="memories")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_table(autoincrement=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_table(autoincrement=False)
    op.create_index(
        "ix_memories_current_created",
        "memories",
        ["created_at"],
        postgresql_where=sa.text("superseded_by IS NULL"),
        sqlite_where=sa.text("superseded_by IS NULL"),
    )


def _rebuild_sqlite_table(*, autoincrement: bool) -> None:
    """Copy the memories, positions included, into a table made the other way; the
    full-text index is keyed by position, so it stays valid."""
    op.create_table(
        "memories_new",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", Id, nullable=False, unique=True),
        sa.Column("ai", sa.String(64), nullable=False),
        sa.Column("session", sa.String(64), nullable=False),
        sa.Column("device", sa.String(128), nullable=False),
        sa.Column("conversation", sa.String(128)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("user_input", sa.Text(), nullable=False),
        sa.Column("ai_response", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("model_used", sa.String(128)),
        sa.Column("facts_extracted", JSON, nullable=False),
        sa.Column("embedding", sa.LargeBinary()),
        sa.Column("embedder", sa.String(64)),
        sa.Column("importance", sa.Float(), nullable=False),
        sa.Column("provenance", JSON, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("fact_key", sa.String(256)),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("superseded_by", Id),
        sqlite_autoincrement=autoincrement,
    )
    op.execute("INSERT INTO memories_new SELECT * FROM memories")
    op.execute("DROP TABLE memories")  # and its indexes and triggers
    op.rename_table("memories_new", "memories")
    op.create_index("ix_memories_ai_created", "memories", ["ai", "created_at"])
    op.create_index("ix_memories_fact_key", "memories", ["fact_key"])
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)
