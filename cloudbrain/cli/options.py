"""Options several commands share, so they read and document the same everywhere."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from pydantic import ValidationError

from cloudbrain.cli.output import console, fail
from cloudbrain.credentials import resolve
from cloudbrain.errors import CloudBrainError
from cloudbrain.files import private_home
from cloudbrain.memory.when import parse_when
from cloudbrain.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from cloudbrain.agent.client import Client

T = TypeVar("T")

Json = typer.Option(False, "--json", help="Print machine-readable JSON instead of text.")
Home = typer.Option(
    None,
    "--home",
    help="Data folder (env CLOUDBRAIN_HOME; default: ~/.cloudbrain).",
    show_default=False,
)
Db = typer.Option(
    None,
    "--db",
    help="Database URL, e.g. postgresql+asyncpg://user@host/db "
    "[env: CLOUDBRAIN_DATABASE_URL; default: SQLite under --home].",
    show_default=False,
)
Url = typer.Option(
    None,
    "--url",
    help="Server to talk to (env CLOUDBRAIN_URL; default: the one `cloudbrain login` chose, "
    "else this machine's: ws://127.0.0.1:8766).",
    show_default=False,
)
Name = typer.Option(
    None,
    "--name",
    "-n",
    help="Agent to act as (env CLOUDBRAIN_AGENT; default: the one saved as default).",
    show_default=False,
)
Token = typer.Option(
    None,
    "--token",
    help="That agent's token (env CLOUDBRAIN_TOKEN; default: the one saved for the server).",
    show_default=False,
)
Port = typer.Option(
    None,
    "--port",
    min=0,
    max=65535,
    help="WebSocket port (env CLOUDBRAIN_PORT; default: 8766; 0: any free port).",
    show_default=False,
)
SmtpPort = typer.Option(
    None,
    "--smtp-port",
    min=0,
    max=65535,
    help="Port of the mail gateway (env CLOUDBRAIN_SMTP_PORT; default: 8025).",
    show_default=False,
)
MailDomain = typer.Option(
    None,
    "--mail-domain",
    help="Mail domain of the family: NAME@DOMAIN reaches the AI NAME, ask@DOMAIN asks "
    "(env CLOUDBRAIN_MAIL_DOMAIN; default: cloudbrain.local).",
    show_default=False,
)
Smtp = typer.Option(
    None,
    "--smtp/--no-smtp",
    help="Run the SMTP mail gateway (env CLOUDBRAIN_SMTP; default: on).",
    show_default=False,
)
HttpPort = typer.Option(
    None,
    "--http-port",
    min=0,
    max=65535,
    help="Port of the web view and REST API (env CLOUDBRAIN_HTTP_PORT; default: 8767).",
    show_default=False,
)
Http = typer.Option(
    None,
    "--http/--no-http",
    help="Serve Familio, the web view and REST API (env CLOUDBRAIN_HTTP; default: on).",
    show_default=False,
)
LogLevel = typer.Option(
    None,
    "--log-level",
    help="DEBUG, INFO, WARNING or ERROR (env CLOUDBRAIN_LOG_LEVEL; default: INFO).",
    show_default=False,
)
LogFormat = typer.Option(
    None,
    "--log-format",
    help="text, or json: one JSON object per line with time, level, logger and message "
    "(env CLOUDBRAIN_LOG_FORMAT; default: text).",
    show_default=False,
)
Since = typer.Option(
    None, "--since", help="From this time: 30m, 2h, 2d, 1w, yesterday, 2026-11-20 …"
)
Until = typer.Option(None, "--until", help="Up to this time, same forms as --since.")


def times(since: str | None, until: str | None) -> dict[str, datetime]:
    """``--since`` and ``--until`` as datetimes, keyed as the protocol names them."""
    found = {}
    try:
        if since:
            found["since"] = parse_when(since)
        if until:
            found["until"] = parse_when(until)
    except CloudBrainError as exc:
        fail(exc)
    return found


def settings(home: Path | None = None, db: str | None = None, **overrides: Any) -> Settings:
    try:
        config = Settings.load(home=home, database_url=db, **overrides)
    except ValueError as exc:
        fail(CloudBrainError(str(exc), hint="fix the environment variable or pass the flag"))
    # A data folder made by an older version, or by hand, may be open to others: close it (and
    # say so). A missing one is made 0700 by whatever first writes into it.
    private_home(config.home, create=False)
    return config


def start_logging(config: Settings, quiet: tuple[str, ...] = ()) -> None:
    """Log as the settings say (see :mod:`cloudbrain.logs`), or fail naming the choices."""
    from cloudbrain.logs import configure

    try:
        configure(config.log_level, config.log_format, quiet)
    except CloudBrainError as exc:
        fail(exc)


def run(coroutine: Coroutine[Any, Any, T], as_json: bool = False, status: str = "") -> T:
    """Run a command's async body, with a spinner saying ``status`` (for people, not with
    ``--json``); CloudBrain errors, and values the protocol refuses before they are sent,
    become one line of message and exit code 1, written once the spinner is gone."""
    spinner = console.status(status, spinner="dots") if status and not as_json else nullcontext()
    try:
        with spinner:
            return asyncio.run(coroutine)
    except CloudBrainError as exc:
        fail(exc, as_json)
    except ValidationError as exc:
        fail(refused_value(exc), as_json)


def refused_value(error: ValidationError) -> CloudBrainError:
    """A value a frame cannot carry, said in one line: which field, and why."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "value"
    message = first["msg"].removeprefix("Value error, ")
    return CloudBrainError(
        f"{field}: {message} (got {str(first.get('input', ''))[:60]!r})",
        hint="`--help` on the command says what each argument takes",
    )


async def as_agent(
    url: str | None,
    name: str | None,
    token: str | None,
    home: Path | None,
    action: Callable[[Client], Awaitable[T]],
    *,
    one_shot: bool = True,
) -> T:
    """Connect as the agent the flags, environment or credentials file name; run ``action``.
    The connection says it is ``one_shot`` (one command, not the agent running), so it is not
    shown as the agent coming online or as one of its sessions, and gets no stored messages."""
    from cloudbrain.agent.client import Client
    from cloudbrain.protocol import ONE_SHOT_CAPABILITY

    found = resolve(settings(home).home, url, name, token)
    capabilities = (ONE_SHOT_CAPABILITY,) if one_shot else ()
    async with Client(
        found.url, found.name, found.token, trust=found.trust, capabilities=capabilities
    ) as client:
        return await action(client)


async def with_engine(db_url: str, action: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``action(engine)`` on a database at this version's schema, then clean up. A new
    database is made on the spot (so a fresh machine needs no separate step); one at an older
    schema is left for `cloudbrain db upgrade` (or the server, which migrates when it starts)
    rather than changed under a running server by whichever command came first."""
    from cloudbrain.db import create_engine, upgrade
    from cloudbrain.db.migrate import head, revision_of
    from cloudbrain.db.trouble import explained

    engine = create_engine(db_url)
    try:
        async with explained(db_url):
            found, newest = await revision_of(engine), head()
        if found is None:
            await asyncio.to_thread(upgrade, db_url)
        elif found != newest:
            raise CloudBrainError(
                f"the database's schema is at {found}, and this CloudBrain needs {newest}",
                hint="run `cloudbrain db upgrade` (starting the server does it too)",
            )
        return await action(engine)
    finally:
        await engine.dispose()
