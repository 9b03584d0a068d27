"""Apply Alembic migrations, from the server at start-up or from ``cloudbrain db upgrade``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    config = Config(str(HERE / "alembic.ini"))
    config.set_main_option("script_location", str(HERE / "migrations"))
    # ConfigParser treats '%' specially; URLs with escaped passwords contain it.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


# Alembic keeps the running migration's context in module globals, so two upgrades at once in
# one process (several agents starting together, each on its own cache) would mix them up.
_one_at_a_time = threading.Lock()


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``. Blocking: call it off the event loop."""
    with _one_at_a_time:
        command.upgrade(alembic_config(url), revision)


async def current(url: str) -> str | None:
    """The revision the database at ``url`` is at, or None when it was never migrated."""
    from cloudbrain.db.engine import create_engine

    engine = create_engine(url)
    try:
        return await revision_of(engine)
    finally:
        await engine.dispose()


async def revision_of(engine: AsyncEngine) -> str | None:
    """The revision the database of ``engine`` is at, or None when it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
        )


def head() -> str | None:
    """The newest revision this version of CloudBrain ships."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
