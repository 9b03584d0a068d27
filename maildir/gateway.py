"""The SMTP gateway: mail to the family's domain becomes messages and asks.

aiosmtpd owns the SMTP conversation; :class:`MailGateway` is its handler and decides what to
accept. It delivers only to local recipients (no open relay), takes mail only from agents —
authenticated with AUTH PLAIN or LOGIN (agent name and token), or, when the server trusts its
own machine, sending from loopback as the agent the MAIL FROM address names — and answers every
refusal with the SMTP code that says what went wrong.

AUTH is offered and taken only over TLS (STARTTLS, or TLS from the first byte, when a
certificate is configured) or on a loopback connection: a token never crosses a network in clear text. Failed AUTH slows down the
address it comes from, then locks it out for a while (:mod:`cloudbrain.auth_limit`).

Trusting loopback trusts every process on this machine, a mail relay among them: a relay that
forwards mail from elsewhere makes every sender look local. So mail taken on that trust must
say the same sender in its From header as in MAIL FROM, and an owner who runs a relay or shares
the machine turns the trust off (``CLOUDBRAIN_SMTP_TRUST_LOOPBACK=0``).

A direct message is accepted (250) only once the server has stored it. An ask is written to the
``incoming`` Maildir first (flushed to disk), accepted, and answered in the background: the
answer is mailed into the asker's mailbox on the server, threaded under the question. Mail left
in ``incoming/new`` by a crash is asked again at the next start, under the same ask id, so it
is answered once.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Protocol

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from cloudbrain.auth_limit import AuthFailures
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
ENCRYPTION_REQUIRED = (
    "538 5.7.11 Encryption required: AUTH is taken after STARTTLS, or from this machine"
)
TOO_MANY_FAILURES = "421 4.7.0 Too many failed AUTH attempts from your address; try again later"
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
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        failures: AuthFailures | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.family = family
        self.spool = spool
        self.domain = domain
        self.trust_loopback = trust_loopback
        self.tls = tls
        self.implicit_tls = implicit_tls  # the listener wraps every connection in TLS itself
        # Not ``auth_...``: aiosmtpd takes every handler attribute of that name for a mechanism.
        self.failures = failures if failures is not None else AuthFailures()
        self.clock = clock
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
            tls_context=None if self.implicit_tls else self.tls,  # no STARTTLS inside TLS
            auth_required=False,  # mail from loopback may be trusted; handle_MAIL decides
            # TLS or loopback: aiosmtpd's switch knows only TLS, so handle_EHLO and _may_auth
            # decide per connection.
            auth_require_tls=False,
            # AUTH is checked in :meth:`auth_PLAIN` and :meth:`auth_LOGIN`, which can wait on
            # the database; aiosmtpd's authenticator only decodes.
            authenticator=lambda server, session, envelope, mechanism, data: AuthResult(
                success=True, auth_data=data
            ),
        )

    # --- AUTH --------------------------------------------------------------------------------

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does itself when there is no hook
        if _may_auth(server):
            return responses
        return [line for line in responses if not line.startswith("250-AUTH ")]

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        refused = await self._refuse(server)
        if refused is not None:
            return refused
        return await self._check(server, await SMTP.auth_PLAIN(server, server, args))

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        refused = await self._refuse(server)
        if refused is not None:
            return refused
        return await self._check(server, await SMTP.auth_LOGIN(server, server, args))

    async def _refuse(self, server: SMTP) -> AuthResult | None:
        """Why this connection may not AUTH at all (before it sends any credentials)."""
        assert server.session is not None
        if not _may_auth(server):
            return AuthResult(success=False, handled=False, message=ENCRYPTION_REQUIRED)
        if self.failures.locked(_client(server.session), self.clock()):
            await _hang_up(server)
            return AuthResult(success=False, handled=True)
        return None

    async def _check(self, server: SMTP, decoded: AuthResult) -> AuthResult:
        if not decoded.success or not isinstance(decoded.auth_data, LoginPassword):
            return decoded
        login = decoded.auth_data.login.decode("utf-8", "replace")
        password = decoded.auth_data.password.decode("utf-8", "replace")
        if await self.family.authenticate(login, password):
            return AuthResult(success=True, auth_data=login)
        assert server.session is not None
        client = _client(server.session)
        after = self.failures.failed(client, self.clock())
        log.info("SMTP AUTH from %s failed for %r", client, login)
        await asyncio.sleep(after.delay)
        if after.close:
            log.warning("SMTP AUTH from %s failed too often: locked out for a while", client)
            await _hang_up(server)
            return AuthResult(success=False, handled=True)
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
        if not session.authenticated:  # taken on the trust of loopback: MAIL FROM is all it has
            refusal = _from_disagrees(message, envelope.mail_from or "")
            if refusal is not None:
                return refusal
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


def _may_auth(server: SMTP) -> bool:
    """AUTH sends a token: only inside TLS (after STARTTLS, or on a listener that speaks TLS
    from the first byte), or where it never leaves this machine."""
    assert server.session is not None
    encrypted = server.transport is not None and server.transport.get_extra_info("ssl_object")
    return bool(encrypted) or is_loopback(server.session.peer)


def _client(session: Session) -> str:
    """The client's address, without its port: what failed AUTH is counted by."""
    peer: object = session.peer
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)


async def _hang_up(server: SMTP) -> None:
    await server.push(TOO_MANY_FAILURES)
    assert server.transport is not None
    server.transport.close()


def _from_disagrees(message: EmailMessage, mail_from: str) -> str | None:
    """The refusal of a mail taken without AUTH whose From header is not its MAIL FROM: a relay
    on this machine passes on whatever MAIL FROM it was given, and the From is what a reader of
    the message sees, so the two must say the same sender."""
    envelope = parseaddr(mail_from)[1].lower()
    written = [a.lower() for _, a in getaddresses([str(v) for v in message.get_all("From", [])])]
    if written == [envelope]:
        return None
    shown = _reply_text(", ".join(written)[:200]) or "nothing"
    return (
        f"550 5.7.1 The From header ({shown}) must be the MAIL FROM address "
        f"({_reply_text(envelope)}) in mail sent without AUTH; AUTH as the agent to send "
        "anything else"
    )


def _reply_text(text: str) -> str:
    """Text from the mail as part of one SMTP reply line: printable ASCII only."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def _sender(session: Session, envelope: Envelope) -> str:
    if session.authenticated and isinstance(session.auth_data, str):
        return session.auth_data
    return parseaddr(envelope.mail_from or "")[1].rpartition("@")[0]
