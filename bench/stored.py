"""A database that already holds a long history, made fast: the migrations, then messages and
their delivery rows (state ``delivered``) written straight into the hub's own tables
(:mod:`cloudbrain.db.models`) with executemany, a large chunk per transaction.

Going through the hub would take hours for a million messages; written here, the rows are the
ones the hub writes (the same tables, column types and indexes, ids from the same UUIDv7
source, so they sort and index as the hub's own do), only without the WebSocket round trips.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bench.progress import progress
from cloudbrain.db import create_engine, upgrade, write_transaction
from cloudbrain.db.models import agents, deliveries, messages, sessions
from cloudbrain.db.types import utcnow
from cloudbrain.ids import new_id

CHUNK = 25_000  # messages per transaction: large enough that commits cost little
PROGRESS_EVERY = 100_000
# A body the size of a short agent message; "t" 0 makes any copy of one that reaches the
# benchmark's receiver count as an older message (replayed), never as a latency.
TEXT = "a message of an earlier session, stored and delivered long before this run."


@dataclass
class StoredHistory:
    """What the fill wrote and what it cost."""

    messages: int  # messages stored, each with one delivery, delivered
    agents: list[str]  # between whom, round robin
    seconds: float
    rows_per_s: float  # messages and deliveries together
    database_bytes: int | None  # the file(s) on SQLite, pg_database_size on PostgreSQL


async def migrate(db_url: str) -> None:
    """Run the project's migrations (Alembic runs its own event loop: off this one)."""
    await asyncio.to_thread(upgrade, db_url)


async def fill(db_url: str, agent_names: Sequence[str], count: int) -> StoredHistory:
    """Store ``count`` delivered messages among ``agent_names`` (registered already): message
    ``i`` goes from the ``i``-th agent to the next, round robin."""
    engine = create_engine(db_url)
    try:
        ids = await agent_ids(engine, agent_names)
        session_of = await open_sessions(engine, ids)
        started = time.perf_counter()
        done = 0
        while done < count:
            size = min(CHUNK, count - done)
            async with write_transaction(engine) as conn:
                await write_chunk(conn, ids, session_of, done, size)
            done += size
            if done // PROGRESS_EVERY > (done - size) // PROGRESS_EVERY or done == count:
                rate = 2 * done / (time.perf_counter() - started)
                progress(
                    f"stored {done:,} / {count:,} messages and deliveries ({rate:,.0f} rows/s)"
                )
        seconds = time.perf_counter() - started
        size_on_disk = await database_bytes(engine, db_url)
    finally:
        await engine.dispose()
    return StoredHistory(
        messages=count,
        agents=list(agent_names),
        seconds=round(seconds, 1),
        rows_per_s=round(2 * count / seconds, 1) if seconds else 0.0,
        database_bytes=size_on_disk,
    )


async def agent_ids(engine: AsyncEngine, names: Sequence[str]) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(agents.c.name, agents.c.id).where(agents.c.name.in_(names))
        )
        by_name = {row.name: str(row.id) for row in rows}
    return [by_name[name] for name in names]


async def open_sessions(engine: AsyncEngine, ids: Sequence[str]) -> dict[str, str]:
    """A session, ended, per agent: messages name the session they came in (a foreign key)."""
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "id": new_id(),
            "agent_id": agent_id,
            "node": "bench",
            "device": "history",
            "client": "bench.stored",
            "capabilities": [],
            "started_at": now,
            "ended_at": now,
            "end_reason": "closed",
        }
        for agent_id in ids
    ]
    async with write_transaction(engine) as conn:
        await conn.execute(sessions.insert(), rows)
    return {row["agent_id"]: row["id"] for row in rows}


async def write_chunk(
    conn: AsyncConnection, ids: Sequence[str], session_of: dict[str, str], first: int, size: int
) -> None:
    """Messages ``first`` .. ``first + size - 1`` and their deliveries, in the order the hub
    would have accepted them (so ``deliveries.seq`` grows with the message ids)."""
    now = utcnow()
    delivered_at = now + timedelta(milliseconds=5)
    message_rows: list[dict[str, Any]] = []
    delivery_rows: list[dict[str, Any]] = []
    for i in range(first, first + size):
        sender, recipient = ids[i % len(ids)], ids[(i + 1) % len(ids)]
        message_id = new_id()
        message_rows.append(
            {
                "id": message_id,
                "sender_id": sender,
                "session_id": session_of[sender],
                "kind": "direct",
                "topic": None,
                "body": {"t": 0, "n": i, "text": TEXT},
                "meta": {},
                "conversation": None,
                "reply_to": None,
                "created_at": now,
                "expires_at": None,
            }
        )
        delivery_rows.append(
            {
                "message_id": message_id,
                "recipient_id": recipient,
                "state": "delivered",
                "delivered_at": delivered_at,
            }
        )
    await conn.execute(messages.insert(), message_rows)
    await conn.execute(deliveries.insert(), delivery_rows)


async def database_bytes(engine: AsyncEngine, db_url: str) -> int | None:
    url = make_url(db_url)
    if url.get_backend_name() == "postgresql":
        async with engine.connect() as conn:
            size = await conn.scalar(select(func.pg_database_size(func.current_database())))
        return None if size is None else int(size)
    if not url.database:
        return None
    async with engine.connect() as conn:
        # Fold the write-ahead log into the file, so that its size is the database's.
        await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    path = Path(url.database)
    files = [path, path.with_name(path.name + "-wal")]
    return sum(file.stat().st_size for file in files if file.exists())
