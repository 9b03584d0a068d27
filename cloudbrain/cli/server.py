"""``cloudbrain server`` and ``cloudbrain db``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from cloudbrain.cli.options import (
    Db,
    Home,
    Http,
    HttpPort,
    Json,
    LogFormat,
    LogLevel,
    MailDomain,
    Port,
    Smtp,
    SmtpPort,
    run,
    settings,
    start_logging,
)
from cloudbrain.cli.output import console, emit, fail
from cloudbrain.errors import CloudBrainError

db_app = typer.Typer(
    help="Database schema: apply migrations, show the revision.", no_args_is_help=True
)


def run_server(
    host: str = typer.Option(
        None,
        help="Address every listener binds (env CLOUDBRAIN_HOST; default: 127.0.0.1). "
        "0.0.0.0 is every address: other machines then need TLS (`cloudbrain tls init`).",
        show_default=False,
    ),
    ws_host: str = typer.Option(
        None,
        help="Address of the WebSocket listener alone (env CLOUDBRAIN_WS_HOST).",
        show_default=False,
    ),
    http_host: str = typer.Option(
        None, help="Address of the web view alone (env CLOUDBRAIN_HTTP_HOST).", show_default=False
    ),
    smtp_host: str = typer.Option(
        None,
        help="Address of the mail gateway alone (env CLOUDBRAIN_SMTP_HOST).",
        show_default=False,
    ),
    tls_cert: str = typer.Option(
        None,
        help="PEM certificate (chain) for wss://, https:// and SMTP STARTTLS "
        "(env CLOUDBRAIN_TLS_CERT; default: HOME/tls/server.pem if `cloudbrain tls init` made it).",
        show_default=False,
    ),
    tls_key: str = typer.Option(
        None, help="Its private key (env CLOUDBRAIN_TLS_KEY).", show_default=False
    ),
    smtp_implicit_tls: bool = typer.Option(
        None,
        "--smtp-implicit-tls/--smtp-starttls",
        help="Mail gateway speaks TLS from the first byte (as on port 465) instead of offering "
        "STARTTLS (env CLOUDBRAIN_SMTP_IMPLICIT_TLS; default: STARTTLS).",
        show_default=False,
    ),
    allow_plaintext: bool = typer.Option(
        None,
        "--allow-plaintext",
        help="Listen on addresses other machines reach without TLS (behind a TLS proxy, or on "
        "a network you trust) (env CLOUDBRAIN_ALLOW_PLAINTEXT; default: refused).",
        show_default=False,
    ),
    port: int = Port,
    db: str = Db,
    home: Path = Home,
    node: str = typer.Option(
        None,
        help="This node's name in logs and sessions (env CLOUDBRAIN_NODE; default: hostname).",
        show_default=False,
    ),
    log_level: str = LogLevel,
    log_format: str = LogFormat,
    smtp_port: int = SmtpPort,
    mail_domain: str = MailDomain,
    smtp: bool = Smtp,
    http_port: int = HttpPort,
    http: bool = Http,
    redis: str = typer.Option(
        None,
        "--redis",
        help="Redis URL, e.g. redis://127.0.0.1:6379/0: run as one node of several that share "
        "this Redis and one PostgreSQL database; give each its own --node "
        "(env CLOUDBRAIN_REDIS_URL; default: a single node).",
        show_default=False,
    ),
    legacy_protocol: bool = typer.Option(
        None,
        "--legacy-protocol/--no-legacy-protocol",
        help='Also take clients of the original CloudBrain protocol (first frame {"ai_id": …}) '
        "on the same port, from this machine only: they cannot prove who they are "
        "(env CLOUDBRAIN_LEGACY_PROTOCOL; default: off).",
        show_default=False,
    ),
) -> None:
    """Run the CloudBrain server until Ctrl-C.

    Migrates the database on start. With no flags it keeps everything in SQLite under
    ~/.cloudbrain and listens on ws://127.0.0.1:8766 for agents, smtp://127.0.0.1:8025 for
    mail and http://127.0.0.1:8767 for the web view (Familio) and its REST API.

    For other machines: `cloudbrain tls init`, then `cloudbrain server --host 0.0.0.0`
    (wss://, https:// and STARTTLS). Without TLS, listening off this machine is refused.
    """
    from cloudbrain.server import serve

    config = settings(
        home,
        db,
        host=host,
        ws_host=ws_host,
        http_host=http_host,
        smtp_host=smtp_host,
        tls_cert=tls_cert,
        tls_key=tls_key,
        smtp_implicit_tls=smtp_implicit_tls,
        allow_plaintext=allow_plaintext,
        port=port,
        node=node,
        log_level=log_level,
        log_format=log_format,
        smtp_port=smtp_port,
        mail_domain=mail_domain,
        smtp=smtp,
        http_port=http_port,
        http=http,
        redis_url=redis,
        legacy_protocol=legacy_protocol,
    )
    # Our own lines say who connected and why they left; the libraries' would repeat them.
    start_logging(config, ("websockets", "alembic", "mail.log"))
    if config.log_format.strip().lower() != "json":  # there, every line out is a JSON object
        console.print(
            f"[bold]CloudBrain[/] server starting on [cyan]{config.url}[/] (Ctrl-C stops it)"
        )
    try:
        asyncio.run(serve(config))
    except ValueError as exc:  # a setting that cannot work, e.g. an unknown embedder spec
        fail(CloudBrainError(str(exc), hint="fix the flag or CLOUDBRAIN_* variable it names"))
    except CloudBrainError as exc:
        fail(exc)
    except OSError as exc:
        fail(
            CloudBrainError(
                f"cannot listen on {config.listening_host('ws')}:{config.port}: "
                f"{exc.strerror or exc}",
                hint="is another server running there? pick another --port",
            )
        )


@db_app.command("upgrade")
def upgrade(db: str = Db, home: Path = Home, as_json: bool = Json) -> None:
    """Apply every migration the database does not have yet (the server does this on start)."""
    from cloudbrain.db import upgrade as do_upgrade
    from cloudbrain.db.migrate import current
    from cloudbrain.db.trouble import explained

    config = settings(home, db)

    async def migrate() -> str | None:
        async with explained(config.db_url):
            await asyncio.to_thread(do_upgrade, config.db_url)
            return await current(config.db_url)

    revision = run(migrate(), as_json, status="migrating the database…")
    emit(
        {"revision": revision},
        as_json,
        lambda: console.print(f"database at revision [bold]{revision}[/]"),
    )


@db_app.command("current")
def show_current(db: str = Db, home: Path = Home, as_json: bool = Json) -> None:
    """Show the database's schema revision and the newest one this version ships."""
    from cloudbrain.db.migrate import current, head

    config = settings(home, db)
    revision, newest = run(current(config.db_url), as_json), head()
    emit(
        {"revision": revision, "head": newest, "up_to_date": revision == newest},
        as_json,
        lambda: console.print(
            f"database: {revision or 'empty'}; newest: {newest}"
            + ("" if revision == newest else "  → run `cloudbrain db upgrade`")
        ),
    )
