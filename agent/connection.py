"""The connection under the client library, kept up for as long as the client runs.

It connects and says hello, and after a drop connects again with backoff (see ``reconnect``);
writes again, in order, the messages the server has not confirmed (see ``outbox``); writes the
acks of handled messages in batches; paces every write under the server's rate limit (see
``pacing``); and hands each answer from the server to whoever waits for it (see ``waiters``).
The calls an application makes are :class:`cloudbrain.agent.client.Client`'s, built on this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from cloudbrain import __version__
from cloudbrain.agent.errors import (
    AuthError,
    CannotConnect,
    ClientClosed,
    ConnectionLost,
    ServerError,
)
from cloudbrain.agent.inbox import Inbox
from cloudbrain.agent.message import Message
from cloudbrain.agent.outbox import RETRYABLE, Outbox, retry_delay
from cloudbrain.agent.pacing import pace_within
from cloudbrain.agent.reconnect import backoff_delay, refused_for_good
from cloudbrain.agent.waiters import Waiters
from cloudbrain.errors import FATAL_CLOSE_CODES, ErrorCode, ProtocolError
from cloudbrain.ids import new_id
from cloudbrain.protocol import (
    MAX_ACK_IDS,
    Ack,
    AskAnswered,
    AskResult,
    AskStarted,
    Deliver,
    DeviceProfile,
    Error,
    Hello,
    Presence,
    Question,
    Receipt,
    Reply,
    Welcome,
    parse_server_frame,
)
from cloudbrain.ratelimit import TokenBucket
from cloudbrain.tls import CertificateRefused, Trust, check_pin, client_context, refusal_of

log = logging.getLogger(__name__)


class Connection:
    def __init__(
        self,
        url: str | Sequence[str],
        name: str,
        token: str,
        *,
        device: str | None = None,
        capabilities: tuple[str, ...] = (),
        skills: tuple[str, ...] = (),
        profile: DeviceProfile | None = None,
        client_name: str = f"cloudbrain-python/{__version__}",
        timeout: float = 10.0,
        max_backoff: float = 10.0,
        dedupe_window: int = 100_000,
        on_presence: Callable[[Presence], None] | None = None,
        trust: Trust | None = None,
    ) -> None:
        # Several servers (nodes of one cluster): the next is tried when one cannot be reached.
        self.urls = server_urls(url)
        # How a wss:// server proves itself (a CA file or a pinned certificate); checked before
        # the token is sent. Refused at once for a ws:// URL, where it would mean nothing.
        self.trust = trust or Trust()
        self._tls = {u: client_context(u, self.trust) for u in self.urls}
        self._at = 0
        self.name = name
        self.device = device or socket.gethostname()
        self.timeout = timeout
        self.welcome: Welcome | None = None
        self._token = token
        self._capabilities = list(capabilities)
        self._skills = list(skills)
        self._profile = profile
        self._client_name = client_name
        self._max_backoff = max_backoff
        self._on_presence = on_presence

        self._ws: ClientConnection | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self._failure: BaseException | None = None
        self._runner: asyncio.Task[None] | None = None
        self._acker: asyncio.Task[None] | None = None
        self._retries: set[asyncio.Task[None]] = set()

        self._outbox = Outbox()
        self._write_lock = asyncio.Lock()
        self._pace: TokenBucket | None = None  # set from the limits in the server's welcome
        self._waiters = Waiters()

        self._inbox = Inbox(dedupe_window)
        # Questions of asks put to this agent (it says "answers" in its capabilities). Not
        # stored by the server: a question missed while disconnected is gone with its deadline.
        self.questions: asyncio.Queue[Question] = asyncio.Queue()

    @property
    def url(self) -> str:
        """The server this client talks to (or tries next)."""
        return self.urls[self._at]

    # --- lifecycle --------------------------------------------------------------------------

    async def connect(self, *, wait: bool = False) -> Welcome:
        """Connect and say hello. With ``wait``, keep trying until a server answers; without
        it, raise :class:`CannotConnect` if the first attempt fails."""
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(retry_first=wait), name="client")
            self._acker = asyncio.create_task(self._send_acks(), name="client-acks")
        await self._until_connected(None if wait else self.timeout * 2)
        assert self.welcome is not None
        return self.welcome

    async def close(self) -> None:
        """Send outstanding acks, close the connection and stop reconnecting."""
        if self._closing:
            return
        self._closing = True
        with contextlib.suppress(Exception):
            await self._flush_acks()
        if self._ws is not None:
            await self._ws.close()
        for task in (self._runner, self._acker):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._waiters.fail_all(ClientClosed("the client was closed"))
        self._inbox.close()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def session(self) -> str | None:
        return self.welcome.session if self.welcome else None

    # --- writing ----------------------------------------------------------------------------

    async def _write_pending(self) -> None:
        """Write, in order, the messages still to write on this connection. One writer at a
        time, so that a new message or a retry never overtakes an earlier one."""
        async with self._write_lock:
            while self._outbox.has_to_write() and self._ws is not None and self.connected:
                text = self._outbox.first_to_write()
                if text is not None:
                    try:
                        await self._write(self._ws, text)
                    except ConnectionClosed:
                        return  # rewritten from the outbox after the reconnect
                self._outbox.written()

    async def _write(self, ws: ClientConnection, text: str) -> None:
        """Write one frame, first waiting as long as the server's rate limit asks."""
        if self._pace is not None:
            delay = self._pace.reserve(time.monotonic())
            if delay:
                await asyncio.sleep(delay)
        await ws.send(text)

    # --- acks -------------------------------------------------------------------------------

    async def _send_acks(self) -> None:
        # One task writes acks, so a burst of handled messages costs a few frames, not one each.
        while True:
            await self._inbox.acks_waiting.wait()
            self._inbox.acks_waiting.clear()
            await self._connected.wait()
            with contextlib.suppress(ConnectionClosed):
                await self._flush_acks()

    async def _flush_acks(self) -> None:
        while (
            self._ws is not None
            and self.connected
            and (batch := self._inbox.take_acks(MAX_ACK_IDS))
        ):
            # If the write fails the server replays these messages and they are acked again
            # then, unread, as duplicates: so there is nothing to keep.
            await self._write(self._ws, Ack(ids=batch).to_json())

    # --- the connection ---------------------------------------------------------------------

    async def _until_connected(self, timeout: float | None) -> None:
        waiter = asyncio.ensure_future(self._connected.wait())
        assert self._runner is not None, "call connect() first"
        try:
            done, _ = await asyncio.wait(
                {waiter, self._runner}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiter.cancel()
        if self._failure is not None:
            raise self._failure
        if self._closing:
            raise ClientClosed("the client was closed")
        if not done:
            raise CannotConnect(
                f"not connected to {self.url} after {timeout:g}s",
                hint="is `cloudbrain server` running there? CLOUDBRAIN_URL or --url picks the server",
            )

    async def _open(self) -> ClientConnection:
        """A WebSocket to the current server whose certificate (for wss://) is one we trust."""
        tls = self._tls[self.url]
        # Only for wss://: websockets refuses ``ssl`` on ws://, and would take None there as
        # "no TLS" on wss://.
        secure: dict[str, Any] = {"ssl": tls} if tls is not None else {}
        try:
            ws = await connect(
                self.url,
                open_timeout=self.timeout,
                max_size=None,  # the server is trusted to send sane frames
                compression=None,
                ping_interval=20,
                ping_timeout=20,
                **secure,
            )
        except ssl.SSLCertVerificationError as exc:
            raise refusal_of(self.url, exc) from None
        if self.trust.pin:
            try:
                check_pin(ws.transport.get_extra_info("ssl_object"), self.trust.pin)
            except CertificateRefused:
                await ws.close()
                raise
        return ws

    async def _run(self, *, retry_first: bool) -> None:
        attempt = 0
        ever_connected = False
        while not self._closing:
            try:
                ws = await self._open()
            except CertificateRefused as exc:
                # Nothing secret was sent. Before the first success this is a setting to fix;
                # later it may be a server that changed its certificate, or someone between.
                if not ever_connected:
                    self._failure = exc
                    self._end()
                    return
                log.warning("%s; trying again", exc)
                attempt += 1
                await self._backoff(attempt)
                continue
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
                failed = self.url
                self._at = (self._at + 1) % len(self.urls)
                if self._at != 0:  # another server to try before waiting
                    log.info("cannot reach %s (%s); trying %s", failed, exc, self.url)
                    continue
                if not ever_connected and not retry_first:
                    self._failure = CannotConnect(
                        f"cannot reach a CloudBrain server at {', '.join(self.urls)} ({exc})",
                        hint="start one with `cloudbrain server` (or `make run`), or point "
                        "--url / CLOUDBRAIN_URL at the right one",
                    )
                    self._end()
                    return
                attempt += 1
                await self._backoff(attempt)
                continue
            try:
                await self._hello(ws)
            except ServerError as exc:
                await ws.close()
                if refused_for_good(exc):
                    self._failure = exc  # the same hello would be refused again
                    self._end()
                    return
                log.warning("the server refused hello: %s; trying again", exc)
                attempt += 1
                await self._backoff(attempt)
                continue
            except (ConnectionClosed, TimeoutError, ProtocolError) as exc:
                log.warning("handshake with %s failed: %s", self.url, exc)
                await ws.close()
                attempt += 1
                await self._backoff(attempt)
                continue

            attempt, ever_connected = 0, True
            self._ws = ws
            self._outbox.rewind()
            self._connected.set()
            self._inbox.acks_waiting.set()
            try:
                await self._write_pending()
                await self._read(ws)
            except ConnectionClosed:
                pass
            finally:
                self._connected.clear()
                self._ws = None
                self._waiters.fail_requests(
                    ConnectionLost("the connection to the server dropped"), resent=self._outbox
                )
            if ws.close_code in FATAL_CLOSE_CODES:
                self._failure = AuthError(
                    ws.close_reason or "refused", f"the server closed with code {ws.close_code}"
                )
                self._end()
                return
            if not self._closing:
                log.info("connection to %s lost (code %s); reconnecting", self.url, ws.close_code)
                await self._backoff(1)

    async def _hello(self, ws: ClientConnection) -> None:
        hello = Hello(
            id=new_id(),
            name=self.name,
            token=self._token,
            device=self.device,
            client=self._client_name,
            capabilities=self._capabilities,
            skills=self._skills,
            profile=self._profile,
        )
        await ws.send(hello.to_json())
        frame = parse_server_frame(await asyncio.wait_for(ws.recv(), self.timeout))
        if isinstance(frame, Error):
            if frame.code in (ErrorCode.AUTH_FAILED, ErrorCode.REVOKED):
                raise AuthError(frame.code, frame.detail)
            raise ServerError(frame.code, frame.detail)
        if not isinstance(frame, Welcome):
            raise ProtocolError(ErrorCode.INVALID_FRAME, f"expected welcome, got {frame.type!r}")
        self.welcome = frame
        self._pace = pace_within(frame.limits)

    # --- reading ----------------------------------------------------------------------------

    async def _read(self, ws: ClientConnection) -> None:
        async for data in ws:
            try:
                frame = parse_server_frame(data)
            except ProtocolError as exc:
                log.warning("ignoring a frame from the server: %s", exc)
                continue
            if isinstance(frame, Deliver):
                self._on_deliver(frame)
            elif isinstance(frame, Presence):
                if self._on_presence is not None:
                    self._on_presence(frame)
            elif isinstance(frame, Error):
                self._on_error(frame)
            elif isinstance(frame, Question):
                self.questions.put_nowait(frame)
            elif isinstance(frame, AskStarted | AskAnswered | AskResult):
                assert frame.re is not None
                self._waiters.feed(frame.re, frame)
            elif isinstance(frame, Reply):
                if isinstance(frame, Receipt):
                    self._outbox.settle(frame.re)
                self._waiters.resolve(frame.re, frame)

    def _on_deliver(self, frame: Deliver) -> None:
        if not self._inbox.is_new(frame.id):
            return
        message = Message.from_frame(frame)
        if self._waiters.take_reply(message):
            self._inbox.ack(message.id)
            return
        self._inbox.put(message)

    def _on_error(self, frame: Error) -> None:
        if frame.re is None:
            log.warning("server error: %s: %s", frame.code, frame.detail)
            return
        if frame.re in self._outbox and frame.code in RETRYABLE:
            # Not accepted this time; write it again shortly. Messages sent after it may be
            # stored first: pacing (see _write) keeps this from happening in normal use.
            asyncio.get_running_loop().call_later(retry_delay(), self._retry, frame.re)
            return
        self._outbox.settle(frame.re)
        self._waiters.reject(frame.re, ServerError(frame.code, frame.detail))

    def _retry(self, message_id: str) -> None:
        if message_id in self._outbox and self.connected:
            self._outbox.write_again(message_id)
            task = asyncio.create_task(self._write_pending())
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)

    def _end(self) -> None:
        """Stop for good after a failure: wake everyone waiting on this client."""
        assert self._failure is not None
        self._waiters.fail_all(self._failure)
        self._inbox.close(self._failure)

    async def _backoff(self, attempt: int) -> None:
        await asyncio.sleep(backoff_delay(attempt, self._max_backoff))


def server_urls(url: str | Sequence[str]) -> list[str]:
    """The servers to try, in order: one URL, several separated by commas, or a list."""
    given = [url] if isinstance(url, str) else list(url)
    found = [part.strip() for item in given for part in item.split(",") if part.strip()]
    if not found:
        raise ValueError("a client needs the URL of at least one server")
    return found
