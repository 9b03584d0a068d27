"""An agent's own Maildir: what it wrote while offline goes out once, and answers come back as
mail threaded under the question.

Each agent (and each identity the command line uses) has two Maildirs, ``inbox`` and
``outbox``, under ``$CLOUDBRAIN_HOME/agents/NAME/mail``. Anything in ``outbox/new`` is sent
when a connection is there — mail written by ``cloudbrain ask --offline`` or by any mail
program — and then moved to ``outbox/cur`` (flag S). A mail is sent with its Message-ID as its
envelope id, so if the process dies between the server's receipt and the move, sending it again
is recognised by the server and stored once; an ask's answer is written to the inbox under a
name made from the ask's id, so it is never there twice. Mail the server refuses for good stays
in ``outbox/cur`` flagged F, with a bounce in the inbox saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from pathlib import Path
from typing import Protocol

from cloudbrain.files import private_folder
from cloudbrain.maildir.folders import FLAGGED, SENT, mark, put_once, read, safe_name, waiting
from cloudbrain.maildir.mapping import (
    POLICY,
    Address,
    MailError,
    MailRequest,
    answer_mail,
    parse_address,
    parse_mail,
    request_from_mail,
)
from cloudbrain.protocol import AskResult

log = logging.getLogger(__name__)

IN_FLIGHT = 64  # mails sent before the first receipt is awaited (asks wait longer: fewer)
ASKS_IN_FLIGHT = 8


class Refused(Exception):
    """The server refused a mail for good (unknown recipient, say); ``reason`` says why."""


class Outlet(Protocol):
    """Where flushed mail goes: a connected client. Errors other than :class:`Refused` mean
    "not now" (no connection, a timeout): the mail stays in the outbox for the next flush."""

    async def submit(self, request: MailRequest) -> None: ...

    async def ask(self, request: MailRequest) -> AskResult: ...


@dataclass(frozen=True)
class LocalMail:
    """The Maildirs of one agent on this machine."""

    root: Path
    domain: str
    agent: str

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @classmethod
    def of(cls, home: Path, agent: str, domain: str) -> LocalMail:
        return cls(home / "agents" / safe_name(agent) / "mail", domain, agent)

    @contextlib.contextmanager
    def flushing(self) -> Iterator[bool]:
        """Hold the right to flush this outbox: True when no other process flushes it now."""
        private_folder(self.root)
        with open(self.root / ".flush.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True


@dataclass
class FlushReport:
    sent: int = 0
    answered: int = 0
    refused: int = 0
    left: int = 0  # still waiting: the connection went, or the server could not take it now

    @property
    def done(self) -> int:
        return self.sent + self.answered + self.refused


async def flush(
    mail: LocalMail, outlet: Outlet, progress: Callable[[FlushReport], None] | None = None
) -> FlushReport:
    """Send everything waiting in the outbox, oldest first; see the module's docstring."""
    report = FlushReport()
    keys = waiting(mail.outbox)
    sends, asks = asyncio.Semaphore(IN_FLIGHT), asyncio.Semaphore(ASKS_IN_FLIGHT)

    async def one(key: str) -> None:
        try:
            data = read(mail.outbox, key)
        except FileNotFoundError:  # taken by a mail program meanwhile
            return
        try:
            message = parse_mail(data)
            request = request_from_mail(message, data, _recipient(message, mail.domain))
        except MailError as error:
            _refuse(mail, key, data, str(error))
            report.refused += 1
            return
        try:
            async with asks if request.kind == "ask" else sends:
                if request.kind == "ask":
                    result = await outlet.ask(request)
                    put_once(
                        mail.inbox,
                        f"answer-{request.id}",
                        answer_mail(result, message, f"{mail.agent}@{mail.domain}", mail.domain),
                    )
                    report.answered += 1
                else:
                    await outlet.submit(request)
                    report.sent += 1
        except Refused as error:
            _refuse(mail, key, data, str(error))
            report.refused += 1
            return
        except Exception as error:  # no connection now: it stays for the next flush
            log.info("outbox mail %s stays for the next flush: %s", key, error)
            report.left += 1
            return
        mark(mail.outbox, key, SENT)
        if progress is not None:
            progress(report)

    await asyncio.gather(*(one(key) for key in keys))
    return report


def _recipient(message: EmailMessage, domain: str) -> Address:
    """Where an outbox mail goes: its one address in To (and Cc)."""
    headers = [str(v) for field in ("To", "Cc") for v in message.get_all(field, [])]
    addresses = [address for _, address in getaddresses(headers) if address]
    if len(addresses) != 1:
        raise MailError(
            f"an outbox mail goes to exactly one address, not {len(addresses)}: "
            "write one mail per recipient"
        )
    return parse_address(addresses[0], domain)


def _refuse(mail: LocalMail, key: str, data: bytes, reason: str) -> None:
    """Flag the mail in the outbox and tell its writer why, in the inbox."""
    log.warning("outbox mail %s refused: %s", key, reason)
    bounce = EmailMessage(policy=POLICY)
    bounce["From"] = f"mailer-daemon@{mail.domain}"
    bounce["To"] = f"{mail.agent}@{mail.domain}"
    bounce["Date"] = format_datetime(datetime.now().astimezone())
    bounce["Message-ID"] = f"<bounce-{safe_name(key)}@{mail.domain}>"
    try:
        original = parse_mail(data)
        subject = str(original.get("Subject", "") or "")
        if asked_id := str(original.get("Message-ID", "")).strip():
            bounce["In-Reply-To"] = asked_id
            bounce["References"] = asked_id
    except (MailError, ValueError, TypeError):
        subject = ""
    bounce["Subject"] = f"Undelivered: {subject}" if subject else "Undelivered mail"
    bounce.set_content(
        f"This mail from your outbox was not sent:\n\n  {reason}\n\n"
        f"It stays in {mail.outbox / 'cur'} flagged F (file {key}).\n"
    )
    put_once(mail.inbox, f"bounce-{key}", bounce)
    mark(mail.outbox, key, FLAGGED)
