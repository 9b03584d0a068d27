"""``cloudbrain maildir …``: what waits in your outbox, the mail in your inbox (and your mailbox
on the server), flushing by hand, and removing duplicates from any Maildir."""

from __future__ import annotations

import asyncio
import mailbox
import sys
from contextlib import nullcontext
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from cloudbrain.cli.options import Home, Json, Name, Token, Url, run, settings
from cloudbrain.cli.outbox import FLUSH_EVERY, ClientOutlet, credentials_or_fail, local_mail
from cloudbrain.cli.output import console, emit, fail, plural
from cloudbrain.errors import CloudBrainError

if TYPE_CHECKING:
    from cloudbrain.maildir.flush import FlushReport

app = typer.Typer(
    help="Your Maildir: mail queued while offline (outbox) and answers that came back (inbox).",
    no_args_is_help=True,
)

# --- commands -----------------------------------------------------------------------------------


@app.command()
def status(name: str = Name, token: str = Token, home: Path = Home, as_json: bool = Json) -> None:
    """What waits where: mail still to send, sent, refused; answers read and unread."""
    from cloudbrain.maildir.folders import counts

    config = settings(home)
    credentials = credentials_or_fail(config.home, None, name, token, as_json)
    local = local_mail(home, credentials.name)
    with local.flushing() as free:
        flushing = not free
    spool = _server_mailbox(config.home, credentials.name)
    outbox, inbox = counts(local.outbox), counts(local.inbox)
    found: dict[str, Any] = {
        "agent": credentials.name,
        "outbox": {
            "path": str(local.outbox),
            "waiting": outbox.new,
            "sent": outbox.cur - outbox.flagged,
            "refused": outbox.flagged,
        },
        "inbox": {"path": str(local.inbox), "unread": inbox.new, "read": inbox.cur},
        "flushing": flushing,
        "server": None,
    }
    if spool.is_dir():
        server = counts(spool)
        found["server"] = {"path": str(spool), "unread": server.new, "read": server.cur}

    def render() -> None:
        table = Table("folder", "state", "path", box=None, header_style="dim")
        o, i = found["outbox"], found["inbox"]
        table.add_row(
            "outbox",
            f"{o['waiting']} waiting, {o['sent']} sent, {o['refused']} refused"
            + (" — a flush is running (or waiting for the server)" if flushing else ""),
            o["path"],
        )
        table.add_row("inbox", f"{i['unread']} unread, {i['read']} read", i["path"])
        if found["server"]:
            s = found["server"]
            table.add_row("server", f"{s['unread']} unread, {s['read']} read", s["path"])
        console.print(table)
        if o["waiting"] and not flushing:
            console.print(
                "[dim]nothing is flushing the outbox: run [bold]cloudbrain maildir flush[/]"
                " (or keep [bold]cloudbrain agent run[/] running)[/]"
            )

    emit(found, as_json, render)


@app.command()
def read(
    server: bool = typer.Option(
        False,
        "--server",
        help="Read your mailbox on the server instead of your inbox: answers to mail sent to "
        "ask@, and messages spooled while you were offline (the server's --home, on this "
        "machine).",
    ),
    show_all: bool = typer.Option(False, "--all", help="Also show mail read before."),
    keep: bool = typer.Option(False, "--keep", help="Leave unread mail unread."),
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Show the mail in your inbox, unread first, and mark it read.

    Any Maildir reader opens the same folders, e.g. `mutt -f ~/.cloudbrain/agents/NAME/mail/inbox`.
    """
    from cloudbrain.maildir.folders import SENT, mark

    config = settings(home)
    credentials = credentials_or_fail(config.home, None, name, token, as_json)
    path = (
        _server_mailbox(config.home, credentials.name)
        if server
        else local_mail(home, credentials.name).inbox
    )
    if not path.is_dir():
        fail(
            CloudBrainError(
                f"there is no Maildir at {path} yet",
                hint="nothing has arrived yet; `cloudbrain maildir status` shows what waits",
            ),
            as_json,
        )
    box = mailbox.Maildir(path, factory=None, create=False)
    # Unread (in new) first, then by arrival; a key in new is the file's own name there.
    keys = sorted(box.iterkeys(), key=lambda k: (not (path / "new" / k).exists(), k))
    mails = []
    for key in keys:
        unread = (path / "new" / key).exists()
        if not unread and not show_all:
            continue
        email = _as_email(box.get_bytes(key))
        mails.append(
            {
                "key": key,
                "unread": unread,
                "from": str(email.get("From", "")),
                "subject": str(email.get("Subject", "")),
                "date": str(email.get("Date", "")),
                "message_id": str(email.get("Message-ID", "")),
                "in_reply_to": str(email.get("In-Reply-To", "")) or None,
                "text": _text(email),
            }
        )
        if unread and not keep:
            mark(path, key, SENT)

    def render() -> None:
        if not mails:
            console.print(f"no {'' if show_all else 'unread '}mail in {path}")
        for mail in mails:
            console.rule(f"[bold]{mail['subject']}[/]", align="left")
            console.print(f"[dim]from {mail['from']}, {mail['date']}[/]", highlight=False)
            console.print(mail["text"], highlight=False, markup=False)

    emit(mails, as_json, render)


@app.command()
def flush(
    wait: bool = typer.Option(
        False, "--wait", help="Wait for the server to be reachable instead of failing."
    ),
    max_wait: float = typer.Option(
        24 * 3600, "--max-wait", min=0.1, help="With --wait: give up after this many seconds."
    ),
    url: str = Url,
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Send the mail waiting in your outbox now; answers to asks go to your inbox."""
    from cloudbrain.agent.client import Client
    from cloudbrain.maildir.flush import flush as flush_outbox

    credentials = credentials_or_fail(settings(home).home, url, name, token, as_json)
    local = local_mail(home, credentials.name)

    async def main() -> FlushReport | None:
        from cloudbrain.maildir.flush import FlushReport

        with local.flushing() as mine:  # held while waiting too: the one flusher of this outbox
            if not mine:
                return None
            client = Client(
                credentials.url, credentials.name, credentials.token, trust=credentials.trust
            )
            try:
                if wait:
                    await asyncio.wait_for(client.connect(wait=True), max_wait)
                else:
                    await client.connect()
                report = FlushReport()
                while True:  # until nothing is left (mail may be added meanwhile)
                    done = await flush_outbox(local, ClientOutlet(client), _progress(as_json))
                    report.sent += done.sent
                    report.answered += done.answered
                    report.refused += done.refused
                    report.left = done.left
                    if not wait or (done.done == 0 and done.left == 0):
                        return report
                    if done.left:  # the connection went meanwhile: the client reconnects
                        await asyncio.sleep(FLUSH_EVERY)
            except TimeoutError:
                raise CloudBrainError(
                    f"the server did not answer within {max_wait:g}s; the mail stays in the outbox",
                    hint="start the server, then run `cloudbrain maildir flush` again",
                ) from None
            finally:
                await client.close()

    report = run(main(), as_json)
    if report is None:
        emit(
            {"flushing_elsewhere": True},
            as_json,
            lambda: console.print("another process is flushing this outbox now"),
        )
        return
    emit(
        report,
        as_json,
        lambda: console.print(
            f"outbox: {report.sent} sent, {report.answered} asked and answered (see "
            f"`cloudbrain maildir read`), {report.refused} refused, {report.left} left"
        ),
    )


@app.command()
def dedupe(
    path: Path = typer.Argument(..., help="A Maildir (the folder with cur, new and tmp)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be removed."),
    as_json: bool = Json,
) -> None:
    """Remove duplicate mail from a Maildir, keeping the oldest copy of each.

    Mails are duplicates when their canonical headers (Date, From, To, Subject, Message-ID, …)
    and their bodies hash the same, as mail-deduplicate computes them.
    """
    from cloudbrain.maildir.dedupe import find_duplicates

    try:
        with console.status(f"hashing the mail in {path}…") if not as_json else nullcontext():
            report = find_duplicates(path.expanduser(), remove=not dry_run)
    except FileNotFoundError as error:
        fail(CloudBrainError(str(error), hint="give the path of a Maildir folder"), as_json)
    verb = "would remove" if dry_run else "removed"

    def render() -> None:
        console.print(
            f"{plural(report.mails, 'mail')}, {verb} {plural(len(report.removed), 'duplicate')}"
            + (
                f"; {len(report.unreadable)} have too few headers to compare and were kept"
                if report.unreadable
                else ""
            )
        )

    emit({"dry_run": dry_run, **report.__dict__}, as_json, render)


# --- helpers ----------------------------------------------------------------------------------


def _progress(as_json: bool) -> Any:
    if as_json or not sys.stderr.isatty():
        return None
    return lambda report: console.print(f"[dim]  {report.done} done…[/]", end="\r")


def _server_mailbox(home: Path, name: str) -> Path:
    from cloudbrain.maildir.folders import safe_name

    return home / "spool" / safe_name(name)


def _as_email(data: bytes) -> EmailMessage:
    from email.parser import BytesParser

    message = BytesParser(policy=default_policy).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    if part is None:
        return "(no text part)"
    try:
        return str(part.get_content()).rstrip()
    except (LookupError, ValueError):
        return "(the text part cannot be decoded)"
