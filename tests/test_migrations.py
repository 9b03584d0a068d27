"""The migrations build exactly the schema the models describe, on both back ends."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from cloudbrain.db import create_engine, upgrade
from cloudbrain.db.migrate import alembic_config, current, head
from cloudbrain.db.models import Base, is_modelled


async def schema_differences(url: str) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(
                        sync, opts={"compare_type": True, "include_object": is_modelled}
                    ),
                    Base.metadata,
                )
            )
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_the_models(db_url: str) -> None:
    assert await current(db_url) == head()
    assert await schema_differences(db_url) == []


async def test_downgrade_to_nothing_and_back(db_url: str) -> None:
    from alembic import command

    await asyncio.to_thread(command.downgrade, alembic_config(db_url), "base")
    assert await current(db_url) is None
    await asyncio.to_thread(upgrade, db_url)
    assert await current(db_url) == head()
    assert await schema_differences(db_url) == []
