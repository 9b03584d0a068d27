"""The real services tests use: PostgreSQL databases made per test, and servers as processes.

PostgreSQL cases skip, saying why, when no server answers, unless CLOUDBRAIN_REQUIRE_SERVICES=1
(as in CI), where a missing service is a failure.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

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
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(
    port: int, timeout: float = 20.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDBRAIN_")}
    env.update({"CLOUDBRAIN_HOME": str(home), "PYTHONUNBUFFERED": "1"}, **extra)
    return env


class ServerProcess:
    """``cloudbrain server`` as a real process, for tests that kill it or use the CLI."""

    def __init__(
        self, home: Path, db_url: str, port: int | None = None, log: Path | None = None
    ) -> None:
        self.home, self.db_url = home, db_url
        self.port = port or free_port()
        self.log = log or home / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cloudbrain",
                    "server",
                    "--port",
                    str(self.port),
                    "--node",
                    "test-node",
                ],
                env=cli_env(
                    self.home, CLOUDBRAIN_DATABASE_URL=self.db_url, CLOUDBRAIN_LOG_LEVEL="INFO"
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, process=self.process)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")
