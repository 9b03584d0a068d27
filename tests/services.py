"""The real services tests use: PostgreSQL databases made per test, and servers as processes
(from ``tests.processes``, re-exported here).

PostgreSQL cases skip, saying why, when no server answers, unless CLOUDBRAIN_REQUIRE_SERVICES=1
(as in CI), where a missing service is a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path

import pytest

from tests.postgres_admin import admin_execute
from tests.processes import ListeningProcess, ServerProcess, cli_env, free_port, wait_for_port

__all__ = [
    "REDIS_URL",
    "PostgresDatabases",
    "RedisProcess",
    "ServerProcess",
    "cli_env",
    "empty_redis",
    "free_port",
    "service_missing",
    "wait_for_port",
]

PG_ADMIN_DSN = os.environ.get(
    "CLOUDBRAIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_SERVICES = os.environ.get("CLOUDBRAIN_REQUIRE_SERVICES") == "1"
TEMPLATE_DB = f"cloudbrain_template_{os.getpid()}"


def service_missing(
    what: str, why: str, how: str = "set CLOUDBRAIN_TEST_POSTGRES to use another server"
) -> None:
    message = f"{what} is not reachable ({why})"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}, and CLOUDBRAIN_REQUIRE_SERVICES=1 requires it")
    pytest.skip(f"{message}; {how}")


REDIS_URL = os.environ.get("CLOUDBRAIN_TEST_REDIS", "redis://127.0.0.1:6379/9")


def empty_redis() -> str:
    """The test Redis (a database of its own on the machine's server), emptied; skips (or
    fails, when services are required) without one."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=3)
    try:
        client.flushdb()
    except (redis.RedisError, OSError) as exc:
        service_missing(
            f"Redis at {REDIS_URL}", str(exc), "set CLOUDBRAIN_TEST_REDIS to use another server"
        )
    finally:
        client.close()
    return REDIS_URL


class RedisProcess(ListeningProcess):
    """A Redis server of the test's own (so the test can stop and restart it), keeping
    nothing on disk."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            service_missing(
                "redis-server", "not installed", "install Redis (apt-get install redis)"
            )
        assert binary is not None
        argv = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        folder.mkdir(parents=True, exist_ok=True)
        super().__init__(
            argv, {"PATH": os.environ.get("PATH", "")}, folder / "redis.log", port, folder
        )

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


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
