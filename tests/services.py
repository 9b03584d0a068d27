"""The real services tests use: PostgreSQL databases made per test, and servers as processes
(from ``tests.processes``, re-exported here).

PostgreSQL cases skip, saying why, when no server answers, unless CLOUDBRAIN_REQUIRE_SERVICES=1
(as in CI), where a missing service is a failure.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from tests.postgres_admin import admin_execute
from tests.processes import ServerProcess, cli_env, free_port, wait_for_port

__all__ = [
    "PostgresDatabases",
    "ServerProcess",
    "cli_env",
    "free_port",
    "service_missing",
    "wait_for_port",
]

PG_ADMIN_DSN = os.environ.get(
    "CLOUDBRAIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_SERVICES = os.environ.get("CLOUDBRAIN_REQUIRE_SERVICES") == "1"
TEMPLATE_DB = f"cloudbrain_template_{os.getpid()}"


def service_missing(what: str, why: str) -> None:
    message = f"{what} is not reachable ({why})"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}, and CLOUDBRAIN_REQUIRE_SERVICES=1 requires it")
    pytest.skip(f"{message}; set CLOUDBRAIN_TEST_POSTGRES to use another server")


def _asyncpg_url(dsn: str, database: str) -> str:
    base = dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


async def _admin(sql: str) -> None:
    await admin_execute(PG_ADMIN_DSN, sql, timeout=5)


class PostgresDatabases:
    """Makes a migrated template database once, then one fresh copy per test (fast)."""

    def __init__(self) -> None:
        self.ready = False
        self.error: str | None = None

    def prepare(self) -> None:
        if self.ready or self.error:
            return
        from cloudbrain.db import upgrade

        try:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)'))
            asyncio.run(_admin(f'CREATE DATABASE "{TEMPLATE_DB}"'))
        except (TimeoutError, OSError) as exc:
            self.error = str(exc) or type(exc).__name__
            return
        upgrade(_asyncpg_url(PG_ADMIN_DSN, TEMPLATE_DB))
        self.ready = True

    def create(self) -> str:
        self.prepare()
        if self.error:
            service_missing(f"PostgreSQL at {PG_ADMIN_DSN}", self.error)
        name = f"cloudbrain_test_{uuid.uuid4().hex[:12]}"
        asyncio.run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"'))
        return name

    def url(self, name: str) -> str:
        return _asyncpg_url(PG_ADMIN_DSN, name)

    def drop(self, name: str) -> None:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        if self.ready:
            self.drop(TEMPLATE_DB)
