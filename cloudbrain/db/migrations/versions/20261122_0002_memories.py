"""Memories, with full-text search: FTS5 on SQLite, a tsvector column on PostgreSQL.

Revision ID: 0002_memories
Revises: 0001_initial
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from cloudbrain.db.types import UTCDateTime

revision: str = "0002_memories"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.Uuid(as_uuid=False)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

SQLITE_SEARCH = [
    # External-content FTS5 index over memories.content, keyed by memories.seq; the porter
    # stemmer lets "learning" find "learned".
    """CREATE VIRTUAL TABLE memories_fts USING fts5(
        content, content='memories', content_rowid='seq', tokenize='porter unicode61')""",
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
POSTGRES_SEARCH = [
    """ALTER TABLE memories ADD COLUMN search tsvector
        GENERATED ALWAYS AS (to_tsvector('english', content)) STORED""",
    "CREATE INDEX ix_memories_search ON memories USING gin (search)",
]


def upgrade() -> None:
    op.create_table(
        "memories",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
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
    )
    op.create_index("ix_memories_ai_created", "memories", ["ai", "created_at"])
    op.create_index("ix_memories_fact_key", "memories", ["fact_key"])
    statements = SQLITE_SEARCH if op.get_bind().dialect.name == "sqlite" else POSTGRES_SEARCH
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE memories_fts")
    op.drop_table("memories")
