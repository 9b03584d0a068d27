"""The servers under test, each a process of its own, how they listen (ws://, or wss:// with a
certificate made for the run), and the hub's database: a fresh PostgreSQL database per run (or
SQLite in the run's folder) and its agents."""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from cloudbrain.certificates import ServerFiles, make_server_files
from cloudbrain.db import create_engine
from cloudbrain.identity import create_agent
from cloudbrain.tls import Trust
from tests.postgres_admin import admin_execute
from tests.processes import ListeningProcess, ServerProcess

ROOT = Path(__file__).resolve().parents[1]
HUB_RATE_LIMIT = "1000000"  # per connection; the defaults would throttle the benchmark
# What the clients of a run connect to, and so what its certificate must name.
LOOPBACK_NAMES = ["127.0.0.1", "localhost"]


@dataclass(frozen=True)
class Transport:
    """How the servers of a run listen and their clients connect: ws://, or (with ``tls``)
    wss:// with the certificate of those files, that clients trust through its CA."""

    tls: ServerFiles | None = None

    @classmethod
    def encrypted(cls, folder: Path) -> Transport:
        """wss:// with a new CA and a server certificate for this machine, under ``folder``."""
        return cls(make_server_files(folder, LOOPBACK_NAMES))

    def url(self, server: ListeningProcess) -> str:
        # A server process knows its port, not how it listens: the scheme is this transport's.
        return server.url.replace("ws://", "wss://", 1) if self.tls else server.url

    @property
    def trust(self) -> Trust:
        return Trust(ca_file=str(self.tls.ca)) if self.tls else Trust()

    def relay_args(self) -> list[str]:
        """The options of ``bench.raw_relay`` that make it listen this way."""
        if self.tls is None:
            return []
        return ["--tls-cert", str(self.tls.cert), "--tls-key", str(self.tls.key)]

    def hub_env(self) -> dict[str, str]:
        """The settings of ``cloudbrain server`` that make it listen this way."""
        if self.tls is None:
            return {}
        return {"CLOUDBRAIN_TLS_CERT": str(self.tls.cert), "CLOUDBRAIN_TLS_KEY": str(self.tls.key)}


def raw_relay(log: Path, transport: Transport = Transport()) -> ListeningProcess:
    """``bench.raw_relay`` as a process (not started yet)."""
    return ListeningProcess(
        [sys.executable, "-m", "bench.raw_relay", *transport.relay_args()],
        os.environ,
        log,
        cwd=ROOT,  # where `python -m bench.raw_relay` finds its package
    )


def hub(
    home: Path,
    db_url: str,
    *,
    node: str = "bench",
    log: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
    port: int | None = None,
) -> ServerProcess:
    """``cloudbrain server`` as a process (not started yet), with rate limits out of the way
    and only warnings logged; ``extra_env`` adds to or overrides its environment; ``port``
    (default: a free one) lets a restarted server come back where its clients look."""
    return ServerProcess(
        home,
        db_url,
        port,
        log=log or home / "log",
        node=node,
        extra_env={
            "CLOUDBRAIN_RATE_PER_SECOND": HUB_RATE_LIMIT,
            "CLOUDBRAIN_RATE_BURST": HUB_RATE_LIMIT,
            "CLOUDBRAIN_LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        },
        cwd=ROOT,
    )


@contextlib.asynccontextmanager
async def fresh_postgres(base_url: str) -> AsyncIterator[str]:
    """A new, empty database on the server of ``base_url``, dropped on the way out."""
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"cloudbrain_bench_{uuid.uuid4().hex[:12]}"
    await admin_execute(admin_dsn, f'CREATE DATABASE "{name}"', timeout=10)
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin_execute(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', timeout=10)


@contextlib.asynccontextmanager
async def hub_database(home: Path, postgres: str | None) -> AsyncIterator[str]:
    """The hub's database URL: a fresh PostgreSQL database, or SQLite under ``home``."""
    if postgres is None:
        yield f"sqlite+aiosqlite:///{home / 'cloudbrain.db'}"
        return
    async with fresh_postgres(postgres) as url:
        yield url


async def make_agents(db_url: str, names: list[str]) -> dict[str, str]:
    """Register the agents (the server has migrated the database); returns name -> token."""
    engine = create_engine(db_url)
    try:
        return {name: (await create_agent(engine, name))[1] for name in names}
    finally:
        await engine.dispose()
