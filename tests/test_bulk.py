"""BulkStatement stores exactly what ``Connection.execute`` would, on both back ends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, Connection, MetaData, String, Table, bindparam, insert, update

from cloudbrain.db import create_engine
from cloudbrain.db.bulk import BulkStatement
from cloudbrain.db.models import IdType
from cloudbrain.db.types import JSONType, UTCDateTime
from cloudbrain.ids import new_id

metadata = MetaData()
things = Table(
    "bulk_things",
    metadata,
    Column("id", IdType, primary_key=True),
    Column("body", JSONType),
    Column("at", UTCDateTime),
    Column("state", String(16), default="new"),
)
COLUMNS = ("id", "body", "at", "state")
AT = datetime(2024, 5, 6, 7, 8, 9, 123, tzinfo=UTC)


def stored_as_text(conn: Connection) -> list[tuple[str, ...]]:
    """The rows as the database holds them, with no conversion back by SQLAlchemy."""
    rows = conn.exec_driver_sql(
        "SELECT CAST(id AS TEXT), CAST(body AS TEXT), CAST(at AS TEXT), state FROM bulk_things"
    )
    return sorted(tuple(row) for row in rows)


async def test_rows_are_stored_as_execute_stores_them(db_url: str) -> None:
    engine = create_engine(db_url)
    by_execute, by_bulk = new_id(), new_id()
    body = {"text": "hé", "n": [1, None]}

    def work(conn: Connection) -> list[tuple[str, ...]]:
        metadata.create_all(conn)
        conn.execute(insert(things), [{"id": by_execute, "body": body, "at": AT, "state": "new"}])
        BulkStatement(insert(things), COLUMNS).executemany(conn, [(by_bulk, body, AT, "new")])
        BulkStatement(insert(things), COLUMNS).executemany(conn, [])
        mark = BulkStatement(
            update(things).where(things.c.id == bindparam("thing")).values(state=bindparam("to")),
            ("thing", "to"),
        )
        mark.executemany(conn, [(by_execute, "seen"), (by_bulk, "seen")])
        return stored_as_text(conn)

    try:
        async with engine.begin() as conn:
            (first_id, *first), (second_id, *second) = await conn.run_sync(work)
    finally:
        await engine.dispose()
    assert first == second
    assert first[-1] == "seen"
    # Ids are time-ordered, so the rows sort as they were made; each id is kept in one form
    # (without dashes on SQLite).
    assert ("-" in first_id) == ("-" in second_id)
    assert second_id.replace("-", "") == by_bulk.replace("-", "")


async def test_a_parameter_left_out_is_refused(db_url: str) -> None:
    engine = create_engine(db_url)
    # "state" has a default that execute() would fill in; a bulk insert must name it.
    statement = BulkStatement(insert(things), ("id", "body", "at"))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            with pytest.raises(ValueError, match="state"):
                await conn.run_sync(statement.executemany, [(new_id(), {}, AT)])
    finally:
        await engine.dispose()
