from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudbrain.agent.client import Client
from cloudbrain.db import create_engine
from cloudbrain.identity import create_agent
from cloudbrain.server import Server
from cloudbrain.settings import Settings
from tests import fault_report
from tests.services import PostgresDatabases

_postgres = PostgresDatabases()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _postgres.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = fault_report.summary()
    if lines:
        terminalreporter.section("what the fault suite counted")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each test's outcome on it, so fixtures can tell a failure (browser screenshots)."""
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database: SQLite in a temporary folder, or PostgreSQL."""
    if request.param == "sqlite":
        from cloudbrain.db import upgrade

        url = f"sqlite+aiosqlite:///{tmp_path / 'cloudbrain.db'}"
        upgrade(url)
        yield url
        return
    name = _postgres.create()
    yield _postgres.url(name)
    _postgres.drop(name)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, for what needs PostgreSQL (several nodes)."""
    name = _postgres.create()
    yield _postgres.url(name)
    _postgres.drop(name)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    # Short timers so tests that wait on them stay quick.
    return Settings(
        home=tmp_path,
        database_url=db_url,
        port=0,
        smtp_port=0,
        http_port=0,
        node="test-node",
        hello_timeout=1.0,
        revocation_poll=0.1,
        expiry_sweep=0.1,
        reputation_every=0.1,
    )


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[Server]:
    async with Server(settings) as running:
        yield running


AgentFactory = Callable[..., Awaitable[tuple[str, str]]]


@pytest.fixture
async def make_agent(settings: Settings) -> AsyncIterator[AgentFactory]:
    """``name, token = await make_agent("alice", skills=[...])``"""
    engine = create_engine(settings.db_url)

    async def make(name: str, **kwargs: object) -> tuple[str, str]:
        record, token = await create_agent(engine, name, **kwargs)  # type: ignore[arg-type]
        return record.name, token

    yield make
    await engine.dispose()


ClientFactory = Callable[..., Awaitable[Client]]


@pytest.fixture
async def connect(server: Server, make_agent: AgentFactory) -> AsyncIterator[ClientFactory]:
    """``client = await connect("alice")``: creates the agent if needed (or takes the token of
    one made with ``make_agent``), connects, and closes every client at the end of the test."""
    tokens: dict[str, str] = {}
    clients: list[Client] = []

    async def open_client(name: str, token: str | None = None, **kwargs: object) -> Client:
        if token is not None:  # an agent made with make_agent
            tokens[name] = token
        if name not in tokens:
            tokens[name] = (await make_agent(name))[1]
        client = Client(server.url, name, tokens[name], timeout=5.0, **kwargs)  # type: ignore[arg-type]
        await client.connect()
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        await client.close()
