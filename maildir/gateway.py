"""The SMTP gateway: mail to the family's domain becomes messages and asks.

aiosmtpd owns the SMTP conversation; :class:`MailGateway` is its handler and decides what to
accept. It delivers only to local recipients (no open relay), takes mail only from agents —
authenticated with AUTH PLAIN or LOGIN (agent name and token), or, when the server trusts its
own machine, sending from loopback as the agent the MAIL FROM address names — and answers every
refusal with the SMTP code that says what went wrong.

A direct message is accepted (250) only once the server has stored it. An ask is written to the
``incoming`` Maildir first (flushed to disk), accepted, and answered in the background: the
answer is mailed into the asker's mailbox on the server, threaded under the question. Mail left
in ``incoming/new`` by a crash is asked again at the next start, under the same ask id, so it
is answered once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import replace
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from cloudbrain.maildir.folders import SENT, mark, put_once, read, safe_name, waiting
from cloudbrain.maildir.mapping import (
    MailError,
    MailRequest,
    answer_mail,
    parse_address,
    parse_mail,
    request_from_mail,
)
from cloudbrain.peers import is_loopback
from cloudbrain.protocol import AskResult

log = logging.getLogger(__name__)

# Prepended to mail kept in ``incoming``: who asked, and at which address. Read as the first
# of their name, so the same headers inside the mail itself change nothing.
SENDER, RECIPIENT = "X-CloudBrain-Sender", "X-CloudBrain-Recipient"
INCOMING = ".incoming"  # the gateway's own Maildir, beside the agents' mailboxes

# Replies (RFC 5321 codes with RFC 3463 enhanced status codes).
OK = "250 2.0.0 OK"
AUTH_REQUIRED = "530 5.7.0 Authentication required: AUTH as an agent (name and token)"
BAD_CREDENTIALS = "535 5.7.8 Authentication credentials invalid"
TRY_LATER = "451 4.3.0 The family cannot take mail right now; try again later"


class Rejected(Exception):
    """The family refused a message; ``reply`` is the SMTP reply to give."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


class Family(Protocol):
    """What the gateway needs from the server."""

    async def authenticate(self, name: str, token: str) -> bool: ...

    async def exists(self, name: str) -> bool: ...

    async def send(self, sender: str, request: MailRequest) -> None:
        """Store a message from ``sender``; raise :class:`Rejected` when it is refused."""

    async def ask(self, sender: str, request: MailRequest) -> AskResult: ...


class MailGateway:
    """The aiosmtpd handler. ``spool`` holds each agent's mailbox and ``incoming``."""

    def __init__(
        self,
        family: Family,
        spool: Path,
        domain: str,
        *,
        trust_loopback: bool,
    ) -> None:
        self.family = family
        self.spool = spool
        self.domain = domain
        self.trust_loopback = trust_loopback
        self._asking: set[asyncio.Task[None]] = set()

    @property
    def incoming(self) -> Path:
        return self.spool / INCOMING

    def mailbox(self, agent: str) -> Path:
        return self.spool / safe_name(agent)

    def smtp(self, max_bytes: int) -> SMTP:
        """A protocol instance for one SMTP connection."""
        return SMTP(
            self,
            hostname=self.domain,
            ident="CloudBrain mail gateway",
            data_size_limit=max_bytes,
            enable_SMTPUTF8=True,
            auth_required=False,  # mail from loopback may be trusted; handle_MAIL decides
            auth_require_tls=False,
            # AUTH is checked in :meth:`auth_PLAIN` and :meth:`auth_LOGIN`, which can wait on
            # the database; aiosmtpd's authenticator only decodes.
            authenticator=lambda server, session, envelope, mechanism, data: AuthResult(
                success=True, auth_data=data
            ),
        )

    # --- AUTH --------------------------------------------------------------------------------

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._check(await SMTP.auth_PLAIN(server, server, args))

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._check(await SMTP.auth_LOGIN(server, server, args))

    async def _check(self, decoded: AuthResult) -> AuthResult:
        if not decoded.success or not isinstance(decoded.auth_data, LoginPassword):
            return decoded
        login = decoded.auth_data.login.decode("utf-8", "replace")
        password = decoded.auth_data.password.decode("utf-8", "replace")
        if await self.family.authenticate(login, password):
            return AuthResult(success=True, auth_data=login)
        log.info("SMTP AUTH failed for %r", login)
        return AuthResult(success=False, handled=False)

    # --- the envelope ------------------------------------------------------------------------

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if session.authenticated:
            envelope.mail_from = address
            return OK
        if not (self.trust_loopback and is_loopback(session.peer)):
            return AUTH_REQUIRED
        local = parseaddr(address)[1].rpartition("@")[0]
        if not local or not await self.family.exists(local):
            return (
                "530 5.7.0 Authentication required: send from NAME@ an existing agent, "
                "or AUTH as one"
            )
        envelope.mail_from = address
        return OK

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        try:
            where = parse_address(address, self.domain)
        except MailError as error:
            return f"550 5.7.1 Relaying denied: {error}"
        if where.kind == "direct" and not await self.family.exists(where.target):
            return f"550 5.1.1 No AI called {where.target!r} here"
        envelope.rcpt_tos.append(address)
        return OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        sender = _sender(session, envelope)
        # SMTP's CRLF line ends become LF, as in a Maildir (and in the message's text).
        data = (envelope.original_content or b"").replace(b"\r\n", b"\n")
        rcpt_of: dict[str, str] = {}
        try:
            message = parse_mail(data)
            requests = []
            for rcpt in envelope.rcpt_tos:
                request = self._request(message, data, rcpt, envelope)
                rcpt_of[request.id] = rcpt
                requests.append(request)
        except MailError as error:
            return f"554 5.6.0 Message not understood: {error}"
        try:
            for request in requests:
                if request.kind == "ask":
                    self._queue_ask(sender, rcpt_of[request.id], request.id, data)
                else:
                    await self.family.send(sender, request)
        except Rejected as rejected:
            return rejected.reply
        except Exception:
            log.exception("mail from %r could not be taken", sender)
            return TRY_LATER
        return "250 2.0.0 Accepted"

    def _request(
        self, message: EmailMessage, data: bytes, rcpt: str, envelope: Envelope
    ) -> MailRequest:
        address = parse_address(rcpt, self.domain)
        request = request_from_mail(message, data, address, mail_from=envelope.mail_from or "")
        if (
            len(envelope.rcpt_tos) > 1
        ):  # one mail, several recipients: each copy needs an id of its own
            copy_id = str(uuid.uuid5(uuid.UUID(request.id), rcpt.lower()))
            request = replace(request, id=copy_id)
        return request

    # --- asks --------------------------------------------------------------------------------

    def _queue_ask(self, sender: str, rcpt: str, ask_id: str, data: bytes) -> None:
        """Keep the ask on disk before saying 250, then answer it in the background. The same
        mail again is the same ask; another sender's mail with its Message-ID is refused."""
        kept = f"{SENDER}: {sender}\n{RECIPIENT}: {rcpt}\n".encode() + data
        if put_once(self.incoming, ask_id, kept, sync=True):
            self._answer_later(ask_id)
        elif parse_mail(read(self.incoming, ask_id)).get_all(SENDER, [""])[0] != sender:
            raise Rejected("554 5.7.0 Another sender already used this Message-ID")

    def answer_waiting(self) -> int:
        """Answer asks a previous run accepted but did not answer (at start)."""
        keys = waiting(self.incoming)
        for key in keys:
            self._answer_later(key)
        return len(keys)

    def _answer_later(self, key: str) -> None:
        task = asyncio.create_task(self._answer(key), name=f"mail-ask-{key}")
        self._asking.add(task)
        task.add_done_callback(self._asking.discard)

    async def _answer(self, key: str) -> None:
        try:
            data = read(self.incoming, key)
        except FileNotFoundError:
            return
        message = parse_mail(data)
        sender = str(message.get_all(SENDER, [""])[0])
        rcpt = str(message.get_all(RECIPIENT, [""])[0])
        request = replace(
            request_from_mail(message, data, parse_address(rcpt, self.domain)), id=key
        )
        try:
            result = await self.family.ask(sender, request)
        except Exception:
            log.exception("the ask in %s failed; it is asked again at the next start", key)
            return
        reply = answer_mail(result, message, f"{sender}@{self.domain}", self.domain)
        put_once(self.mailbox(sender), f"answer-{result.ask}", reply, sync=True)
        mark(self.incoming, key, SENT)
        log.info("answered mail ask %s from %s", result.ask, sender)

    async def stop(self) -> None:
        """Stop answering; what is not answered stays in ``incoming`` for the next start."""
        for task in list(self._asking):
            task.cancel()
        await asyncio.gather(*self._asking, return_exceptions=True)


def _sender(session: Session, envelope: Envelope) -> str:
    if session.authenticated and isinstance(session.auth_data, str):
        return session.auth_data
    return parseaddr(envelope.mail_from or "")[1].rpartition("@")[0]
