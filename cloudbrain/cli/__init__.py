"""The ``cloudbrain`` command.

The command line is where the parts meet, so this package is the one place in the kernel that
reaches into the subpackages; it does so inside each command, so ``import cloudbrain`` alone
never loads the server or the agent code.
"""

from __future__ import annotations

import inspect
import os
from importlib.metadata import version

import typer

from cloudbrain.cli import (
    agents,
    asking,
    brain,
    demo,
    familio,
    legacy,
    login,
    mail,
    memory,
    messaging,
    server,
    tls,
)
from cloudbrain.cli.output import report
from cloudbrain.errors import CloudBrainError

app = typer.Typer(
    name="cloudbrain",
    help=(
        "CloudBrain: a message bus and long-term memory for AI agents.\n\n"
        "Start here:\n\n"
        "  cloudbrain server                      # terminal 1: run the server\n\n"
        "  cloudbrain agent create alice --save   # register agents, keep their tokens\n\n"
        "  cloudbrain agent create bob --save\n\n"
        "  cloudbrain listen --name bob           # terminal 2: bob waits for messages\n\n"
        "  cloudbrain send bob 'hello' --name alice   # terminal 3\n\n"
        "Settings come from flags, then CLOUDBRAIN_* environment variables, then defaults "
        "(SQLite under ~/.cloudbrain, server on ws://127.0.0.1:8766)."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def show_version(asked: bool) -> None:
    if asked:
        print(f"cloudbrain {version('cloudbrain')}")
        raise typer.Exit()


@app.callback()
def options(
    _version: bool = typer.Option(
        False,
        "--version",
        callback=show_version,
        is_eager=True,
        help="Print the installed version and exit.",
    ),
) -> None:
    """The options that come before the command."""


app.add_typer(agents.app, name="agent")
app.add_typer(memory.app, name="memory")
app.add_typer(brain.app, name="brain")
app.add_typer(mail.app, name="maildir")
app.add_typer(familio.app, name="familio")
app.add_typer(server.db_app, name="db")
app.add_typer(tls.app, name="tls")
app.command("server")(server.run_server)
app.command("demo")(demo.demo)
app.command("send")(messaging.send)
app.command("listen")(messaging.listen)
app.command("who")(messaging.who)
app.command("status")(messaging.status)
app.command("ask")(asking.ask)
app.command("asks")(asking.asks)
app.command("rate")(asking.rate)
app.command("card")(asking.card)
app.command("follow")(familio.follow)
app.command("unfollow")(familio.unfollow)
app.command("endorse")(familio.endorse)
app.command("withdraw")(familio.withdraw)
app.command("import-legacy")(legacy.import_legacy)
app.command("login")(login.login)
app.command("logout")(login.logout)
app.command("logins")(login.logins)


def one_line_summaries(typer_app: typer.Typer) -> None:
    """Each command's summary in the command lists: the first paragraph of its docstring as
    one line. Left to itself the list keeps the docstring's line breaks, which cut the
    summary mid-sentence at any terminal width."""
    for command in typer_app.registered_commands:
        doc = inspect.getdoc(command.callback) if command.callback else None
        if command.short_help is None and doc:
            command.short_help = " ".join(doc.split("\n\n")[0].split())
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            one_line_summaries(group.typer_instance)


one_line_summaries(app)


# Modules of the optional parts, by the extra that installs them (see pyproject.toml).
EXTRAS = {
    "agent": {"sqlalchemy", "aiosqlite", "alembic", "numpy", "ollama", "onnxruntime", "tokenizers"},
    "server": {
        "asyncpg",
        "aiosmtpd",
        "mail_deduplicate",
        "fastapi",
        "uvicorn",
        "jinja2",
        "redis",
        "cryptography",
        "prometheus_client",
        "networkx",
    },
}


def main() -> None:
    try:
        app()
    except ModuleNotFoundError as missing:
        top = (missing.name or "").split(".")[0]
        extra = next((name for name, modules in EXTRAS.items() if top in modules), None)
        if extra is None:
            raise
        typer.echo(
            f"error: this command needs CloudBrain's {extra} parts, which are not installed "
            f"({top} is missing).\nInstall them with: pip install 'cloudbrain[{extra}]'",
            err=True,
        )
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except CloudBrainError as refused:  # met outside a command's own reporting
        report(refused)
        raise SystemExit(1) from None
    except Exception as unexpected:  # a bug: one line for the person, the trace on request
        if os.environ.get("CLOUDBRAIN_DEBUG"):
            raise
        report(
            RuntimeError(f"{type(unexpected).__name__}: {str(unexpected)[:300]}"),
            hint="this is a bug in CloudBrain; run again with CLOUDBRAIN_DEBUG=1 for the "
            "traceback, and report it",
        )
        raise SystemExit(1) from None
