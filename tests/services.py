"""The real services tests use: PostgreSQL databases made per test, and servers as processes
(from ``tests.processes``, re-exported here).

PostgreSQL cases skip, saying why, when no server answers, unless CLOUDBRAIN_REQUIRE_SERVICES=1
(as in CI), where a missing service is a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from tests.postgres_admin import admin_execute
from tests.processes import RedisProcess, ServerProcess, cli_env, free_port, wait_for_port

__all__ = [
    "REDIS_URL",
    "PostgresDatabases",
    "RedisProcess",
    "ServerProcess",
    "cli_env",
    "debian_package",
    "empty_redis",
    "free_port",
    "redis_process",
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


T = TypeVar("T")
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


def debian_package(package: str, present: Callable[[], T | None], what: str) -> T:
    """What ``present`` finds, after installing Debian's ``package`` with apt-get if it finds
    nothing (test machines run as root, with Debian's packages). Skips, saying why, where it
    cannot be installed, unless CLOUDBRAIN_REQUIRE_SERVICES=1, where that is a failure."""
    found = present()
    if found is not None:
        return found
    why = "not installed"
    if shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        # The package lists may be missing on a fresh machine: update them if the first try fails.
        for step in (
            ["install", "-y", "-q", package],
            ["update", "-q"],
            ["install", "-y", "-q", package],
        ):
            done = subprocess.run(
                ["apt-get", *step], env=env, capture_output=True, text=True, timeout=900
            )
            found = present()
            if found is not None:
                return found
        why = f"apt-get install {package} failed: {done.stderr.strip()[-300:]}"
    message = f"{what} is missing ({why})"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}, and CLOUDBRAIN_REQUIRE_SERVICES=1 requires it")
    pytest.skip(f"{message}; `sudo apt-get install {package}` provides it")


def redis_process(folder: Path) -> RedisProcess:
    """A Redis server of the test's own (not started yet); skips (or fails, when services are
    required) where redis-server is not installed."""
    try:
        return RedisProcess(folder)
    except FileNotFoundError as exc:
        service_missing("redis-server", str(exc), "install Redis (apt-get install redis-server)")
        raise


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
