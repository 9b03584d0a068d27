"""Engine factory: the same async API over SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from cloudbrain.errors import CloudBrainError
from cloudbrain.files import PRIVATE_FILE, open_private, private_folder, tighten

log = logging.getLogger(__name__)

T = TypeVar("T")

# Seconds asyncpg waits for one command's answer. A connection that went silent with no reset
# (half-open: a dropped route, a host that died) would otherwise hold its query, and the batch
# writer with it, forever; after this the writer tries again on another connection. A URL's
# own ``?command_timeout=`` wins.
COMMAND_TIMEOUT = 30
# The databases and drivers CloudBrain runs on: (backend, driver) as SQLAlchemy names them.
ASYNC_DRIVERS = {("sqlite", "aiosqlite"), ("postgresql", "asyncpg")}


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an engine for ``url``; for SQLite, make its file private (a ``file:`` URI is
    SQLite's to open as it says) and set durable pragmas. A URL of no database CloudBrain
    can use is a :class:`CloudBrainError` saying which URLs work."""
    try:
        parsed = make_url(url)
        if (parsed.get_backend_name(), parsed.get_driver_name()) not in ASYNC_DRIVERS:
            raise ValueError(
                "CloudBrain needs SQLite through aiosqlite, or PostgreSQL through asyncpg"
            )
    except (ArgumentError, ValueError) as refused:
        raise CloudBrainError(
            f"cannot use {url[:200]!r} as a database URL ({refused})",
            hint="use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST:PORT/NAME "
            "(--db or CLOUDBRAIN_DATABASE_URL)",
        ) from None
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        if parsed.get_driver_name() == "asyncpg" and "command_timeout" not in parsed.query:
            kwargs.setdefault("connect_args", {}).setdefault("command_timeout", COMMAND_TIMEOUT)
        return create_async_engine(url, **kwargs)
    if (
        parsed.database
        and parsed.database != ":memory:"
        and not parsed.database.startswith("file:")
    ):
        private_database(Path(parsed.database).expanduser())
    engine = create_async_engine(url, **kwargs)
    _configure_sqlite(engine.sync_engine)
    return engine


def sqlite_url(path: Path) -> str:
    """The async URL of the SQLite file ``path``. Made with SQLAlchemy rather than an f-string:
    URLs are %-decoded when read, so a path holding ``%2F`` (as escaped names do) would
    otherwise open another file than the one meant, maybe outside its folder."""
    return URL.create("sqlite+aiosqlite", database=str(path)).render_as_string(hide_password=False)


def private_database(path: Path) -> None:
    """Make the SQLite file ``path`` (and its folder) its owner's only before SQLite opens it.

    SQLite creates a database with the umask's mode (0644, most often), and its -wal, -shm and
    -journal files with the mode of the database: so a database made 0600 here keeps all of
    them private. A database there already, and files left beside it, are tightened to 0600.
    """
    private_folder(path.parent)
    # An empty file is a new database to SQLite; one there already is tightened below.
    with contextlib.suppress(FileExistsError):
        os.close(open_private(path, os.O_WRONLY | os.O_EXCL))
    for file in (path, *(path.with_name(path.name + end) for end in ("-wal", "-shm", "-journal"))):
        old = tighten(file, PRIVATE_FILE)
        if old is not None:
            log.info("%s was open to other users (mode %03o); made it 0600", file, old)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so we can say BEGIN IMMEDIATE for writes
        # (the recipe in SQLAlchemy's SQLite dialect documentation).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL lets readers run beside the writer; synchronous=FULL makes every commit durable
        # even against power loss, and batching keeps the fsyncs few.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred transaction that reads and then writes can fail at once with SQLITE_BUSY
        # when another connection wrote in between; IMMEDIATE takes the write lock up front.
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class TransactionRunner:
    """Runs a whole unit of synchronous database work as one write transaction, in one hop.

    Through the async engine every statement, the begin and the commit are each a round trip
    between the event loop and the driver. For a hot path of many small statements that costs
    more than the database does. So: on SQLite the work runs on a thread of its own with a
    plain sqlite3 connection (one hop per transaction); on PostgreSQL, whose asyncpg driver
    needs no thread, through ``run_sync`` on the async engine.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sqlite: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        if engine.dialect.name == "sqlite":
            self._sqlite = sqlalchemy.create_engine(engine.url.set(drivername="sqlite"))
            _configure_sqlite(self._sqlite)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")

    async def run(self, work: Callable[[Connection], T]) -> T:
        if self._thread is None:
            async with write_transaction(self._engine) as conn:
                return await conn.run_sync(work)
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, self._run_sqlite, work
        )

    def _run_sqlite(self, work: Callable[[Connection], T]) -> T:
        assert self._sqlite is not None
        with self._sqlite.connect() as conn:
            conn = conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                return work(conn)

    def close(self) -> None:
        if self._thread is not None and self._sqlite is not None:
            self._thread.submit(self._sqlite.dispose).result()
            self._thread.shutdown()


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction meant for writing; commits on success, rolls back on error."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(sqlite_immediate=True)
        async with conn.begin():
            yield conn
