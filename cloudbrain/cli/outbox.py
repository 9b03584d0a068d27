"""The offline half of ``ask`` and ``send``, and the outbox flush of ``agent run``: the agent's
Maildir meets its connection here.

Mail written while offline waits in ``outbox`` and is flushed by whichever process gets to it
first: a running ``cloudbrain agent run``, or the ``maildir flush --wait`` that ``--offline``
starts in the background. Answers come back to ``inbox`` as mail.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudbrain.cli.options import settings
from cloudbrain.cli.output import console, emit, fail
from cloudbrain.credentials import Credentials, resolve
from cloudbrain.errors import CloudBrainError
from cloudbrain.files import open_private

if TYPE_CHECKING:
    from cloudbrain.agent.client import Client
    from cloudbrain.maildir.flush import LocalMail
    from cloudbrain.maildir.mapping import MailRequest
    from cloudbrain.protocol import AskResult

log = logging.getLogger(__name__)

FLUSH_EVERY = 2.0  # seconds between looks at the outbox while an agent runs


# --- sending mail through a connected client ---------------------------------------------------


class ClientOutlet:
    """Sends flushed mail with a connected :class:`Client`."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def submit(self, request: MailRequest) -> None:
        options: dict[str, Any] = {
            "message_id": request.id,
            "meta": request.meta,
            "conversation": request.conversation,
            "reply_to": request.reply_to,
        }
        with _refusals():
            if request.kind == "topic":
                await self.client.publish(request.target, request.body, **options)
            elif request.kind == "broadcast":
                await self.client.broadcast(request.body, **options)
            else:
                await self.client.send(request.target, request.body, **options)

    async def ask(self, request: MailRequest) -> AskResult:
        with _refusals():
            return await self.client.ask_and_wait(
                request.question, skills=list(request.skills), ask_id=request.id
            )


@contextmanager
def _refusals() -> Iterator[None]:
    """Turns the server's refusals into :class:`Refused`; other errors pass as they are."""
    from cloudbrain.agent.errors import ServerError
    from cloudbrain.maildir.flush import Refused

    try:
        yield
    except ServerError as error:
        raise Refused(f"the server refused it: {error.detail} ({error.code})") from error


def local_mail(home: Path | None, name: str) -> LocalMail:
    from cloudbrain.maildir.flush import LocalMail

    config = settings(home)
    return LocalMail.of(config.home, name, config.mail_domain)


def flushing_job(mail: LocalMail) -> Callable[[Client], Coroutine[Any, Any, None]]:
    """A job for :meth:`AgentRuntime.run`: flush the outbox whenever mail is waiting."""
    from cloudbrain.maildir.flush import flush
    from cloudbrain.maildir.folders import waiting

    async def job(client: Client) -> None:
        outlet = ClientOutlet(client)
        while True:
            if client.connected and waiting(mail.outbox):
                with mail.flushing() as mine:
                    if mine:
                        report = await flush(mail, outlet)
                        log.info(
                            "outbox: %d sent, %d answered, %d refused, %d left",
                            report.sent,
                            report.answered,
                            report.refused,
                            report.left,
                        )
            await asyncio.sleep(FLUSH_EVERY)

    return job


# --- queueing while offline -------------------------------------------------------------------


def queue_offline(
    home: Path | None,
    name: str | None,
    token: str | None,
    url: str | None,
    as_json: bool,
    *,
    kind: str,
    body: str,
    target: str = "",
    skills: Sequence[str] = (),
    conversation: str | None = None,
) -> None:
    """Put a mail in the outbox, start a background flush (unless one runs), say so."""
    from cloudbrain.ids import new_id
    from cloudbrain.maildir.folders import put_once
    from cloudbrain.maildir.mapping import address_of, outgoing_mail

    config = settings(home)
    credentials = credentials_or_fail(config.home, url, name, token, as_json)
    local = local_mail(home, credentials.name)
    envelope = new_id()
    mail = outgoing_mail(
        sender=credentials.name,
        to=address_of(kind, target, config.mail_domain, skills),
        body=body,
        domain=config.mail_domain,
        conversation=conversation,
        envelope=envelope,
    )
    put_once(local.outbox, envelope, mail)
    pid = None
    with local.flushing() as free:
        pass
    if free:
        pid = _start_flusher(local, credentials.name, credentials.token, home, credentials.url)
    emit(
        {"queued": envelope, "outbox": str(local.outbox), "flusher_pid": pid},
        as_json,
        lambda: console.print(
            f"queued in {local.outbox} (id {envelope}); it goes out when the server is "
            "reachable"
            + (f" (background flush, pid {pid})" if pid else "")
            + ".\nAnswers and bounces arrive in your inbox: [bold]cloudbrain maildir read[/]",
            highlight=False,
        ),
    )


def _start_flusher(
    local: LocalMail, name: str, token: str, home: Path | None, url: str | None
) -> int:
    """Start ``cloudbrain maildir flush --wait`` in the background; returns its pid."""
    command = [sys.executable, "-m", "cloudbrain", "maildir", "flush", "--wait", "--name", name]
    if home:
        command += ["--home", str(home)]
    if url:
        command += ["--url", url]
    # Its log names who mails whom: private, like the mail itself.
    log_fd = open_private(local.root / "flush.log", os.O_WRONLY | os.O_APPEND)
    with os.fdopen(log_fd, "ab") as log_file:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command and its terminal
            env={**os.environ, "CLOUDBRAIN_TOKEN": token},  # not in argv, where ps shows it
        )
    return process.pid


def credentials_or_fail(
    home: Path, url: str | None, name: str | None, token: str | None, as_json: bool
) -> Credentials:
    try:
        return resolve(home, url, name, token)
    except CloudBrainError as error:
        fail(error, as_json)
