"""Alembic environment: runs migrations over our async engine, on SQLite or PostgreSQL."""

import asyncio

from alembic import context
from sqlalchemy import Connection, text

from cloudbrain.db.engine import create_engine
from cloudbrain.db.models import Base, is_modelled

config = context.config
url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
    "sqlalchemy.url"
)


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=is_modelled,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several server nodes may start together on one database: one migrates, the others
            # wait here, then find nothing left to do.
            connection.execute(text("SELECT pg_advisory_xact_lock(7714031)"))
        context.run_migrations()


async def run_online() -> None:
    assert url, "no database URL: pass -x url=... or set sqlalchemy.url"
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(run_online())
