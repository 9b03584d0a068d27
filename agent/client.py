"""The client library: how every agent and CLI command talks to a CloudBrain server.

    async with Client(url, "alice", token) as client:
        await client.send("bob", "hello")            # returns once the server stored it
        async for message in client.messages():      # acked when the loop body completes
            print(message.sender, message.text)

What it takes care of:
- reconnects with exponential backoff and full jitter when the connection drops;
- resends messages the server has not confirmed, in their original order, with their original
  ids (the server recognises a resend, so nothing is stored twice);
- hands each incoming message to the application once, even when the server replays it after a
  reconnect, and acknowledges it only after the application has handled it;
- request/reply with timeouts, heartbeats (WebSocket pings), and a clean close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any, TypeVar

from pydantic import BaseModel
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from cloudbrain import __version__
from cloudbrain.agent.errors import (
    AuthError,
    CannotConnect,
    ClientClosed,
    ConnectionLost,
    FrameTooLarge,
    ServerError,
)
from cloudbrain.agent.inbox import Inbox
from cloudbrain.agent.message import Message
from cloudbrain.brainstate import BrainState
from cloudbrain.errors import FATAL_CLOSE_CODES, ErrorCode, ProtocolError
from cloudbrain.ids import new_id
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.protocol import (
    MAX_ACK_IDS,
    Ack,
    AgentInfo,
    BrainHistory,
    BrainLoad,
    BrainSave,
    BrainSaved,
    BrainSnapshot,
    BrainVersions,
    Broadcast,
    Deliver,
    DeliveryStatus,
    Error,
    Hello,
    Memories,
    MemoryPage,
    MessageFrame,
    Ok,
    Ping,
    Pong,
    Presence,
    Publish,
    Recall,
    RecallResult,
    Receipt,
    Recollection,
    Remember,
    Remembered,
    Roster,
    Send,
    Status,
    Subscribe,
    Unsubscribe,
    Welcome,
    Who,
    parse_server_frame,
)
from cloudbrain.ratelimit import TokenBucket

log = logging.getLogger(__name__)

Reply = TypeVar("Reply", bound=BaseModel)
Request = (
    Subscribe
    | Unsubscribe
    | Who
    | Status
    | Ping
    | Remember
    | Recall
    | Memories
    | BrainSave
    | BrainLoad
    | BrainHistory
)

# Errors after which the server may well accept the same message a moment later.
RETRYABLE = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE})


class Client:
    def __init__(
        self,
        url: str,
        name: str,
        token: str,
        *,
        device: str | None = None,
        capabilities: tuple[str, ...] = (),
        client_name: str = f"cloudbrain-python/{__version__}",
        timeout: float = 10.0,
        max_backoff: float = 10.0,
        dedupe_window: int = 100_000,
        on_presence: Callable[[Presence], None] | None = None,
    ) -> None:
        self.url = url
        self.name = name
        self.device = device or socket.gethostname()
        self.timeout = timeout
        self.welcome: Welcome | None = None
        self._token = token
        self._capabilities = list(capabilities)
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

        # Messages not yet confirmed by a receipt, in the order they were sent, and the ids
        # still to be written on the current connection (rebuilt from the former on reconnect).
        self._unreceipted: OrderedDict[str, str] = OrderedDict()
        self._to_write: deque[str] = deque()
        self._write_lock = asyncio.Lock()
        self._pace: TokenBucket | None = None  # set from the limits in the server's welcome
        self._waiters: dict[str, asyncio.Future[Any]] = {}  # frame id -> its answer
        self._reply_waiters: dict[str, asyncio.Future[Message]] = {}  # message id -> its reply

        self._inbox = Inbox(dedupe_window)

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
        self._fail_waiters(ClientClosed("the client was closed"))
        self._inbox.close()

    async def __aenter__(self) -> Client:
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

    # --- sending messages -------------------------------------------------------------------

    async def send(self, to: str, body: Any, **options: Any) -> Receipt:
        """Send a direct message; returns the server's receipt once the message is stored.

        ``options``: ``meta`` (dict), ``conversation``, ``reply_to`` (a message id), ``ttl``
        (seconds). While disconnected the message waits and is sent after reconnecting.
        """
        return await self._submit(Send(id=new_id(), to=to, body=body, **options))

    async def publish(self, topic: str, body: Any, **options: Any) -> Receipt:
        """Send a message to every subscriber of ``topic`` (except yourself)."""
        return await self._submit(Publish(id=new_id(), topic=topic, body=body, **options))

    async def broadcast(self, body: Any, **options: Any) -> Receipt:
        """Send a message to every agent (except yourself)."""
        return await self._submit(Broadcast(id=new_id(), body=body, **options))

    async def request(
        self, to: str, body: Any, *, timeout: float | None = None, **options: Any
    ) -> Message:
        """Send a message and wait for the message that answers it (its ``reply_to``)."""
        frame = Send(id=new_id(), to=to, body=body, **options)
        reply: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._reply_waiters[frame.id] = reply
        try:
            await self._submit(frame)
            return await asyncio.wait_for(reply, timeout or self.timeout)
        finally:
            self._reply_waiters.pop(frame.id, None)

    async def reply(self, message: Message, body: Any, **options: Any) -> Receipt:
        """Answer ``message``: to its sender, in its conversation, marked as the reply to it."""
        options.setdefault("conversation", message.conversation)
        return await self.send(message.sender, body, reply_to=message.id, **options)

    async def _submit(self, frame: MessageFrame) -> Receipt:
        text = frame.to_json()
        if self.welcome and len(text.encode()) > self.welcome.limits.max_frame_bytes:
            raise FrameTooLarge(
                f"message of {len(text.encode())} bytes is over the server's limit of "
                f"{self.welcome.limits.max_frame_bytes}",
                hint="send a smaller body, or raise CLOUDBRAIN_MAX_FRAME_BYTES on the server",
            )
        receipt = self._expect(frame.id)
        self._unreceipted[frame.id] = text
        self._to_write.append(frame.id)
        await self._write_pending()
        try:
            return await asyncio.wait_for(receipt, self.timeout)
        except TimeoutError:
            # Still queued: it will be written again after a reconnect, and the server drops
            # the copy if the first one did arrive. Say so rather than pretend it failed.
            raise TimeoutError(
                f"no receipt for message {frame.id} within {self.timeout:g}s; it stays queued "
                "and will be resent while this client runs"
            ) from None

    async def _write_pending(self) -> None:
        async with self._write_lock:
            while self._to_write and self._ws is not None and self.connected:
                message_id = self._to_write[0]
                text = self._unreceipted.get(message_id)
                if text is not None:
                    try:
                        await self._write(self._ws, text)
                    except ConnectionClosed:
                        return  # rewritten from _unreceipted after the reconnect
                self._to_write.popleft()

    # --- requests ---------------------------------------------------------------------------

    async def subscribe(self, topic: str) -> None:
        """Subscribe to ``topic``. Subscriptions are kept by the server across connections."""
        await self._ask(Subscribe(id=new_id(), topic=topic), Ok)

    async def unsubscribe(self, topic: str) -> None:
        await self._ask(Unsubscribe(id=new_id(), topic=topic), Ok)

    async def who(self) -> list[AgentInfo]:
        """Every agent, with its online state and open sessions."""
        return (await self._ask(Who(id=new_id()), Roster)).agents

    async def status(self, message_id: str) -> DeliveryStatus:
        """Where a message you sent stands, per recipient: pending, delivered or expired."""
        return await self._ask(Status(id=new_id(), msg=message_id), DeliveryStatus)

    async def ping(self) -> float:
        """Round-trip time to the server in seconds."""
        start = time.perf_counter()
        await self._ask(Ping(id=new_id()), Pong)
        return time.perf_counter() - start

    # --- memory -----------------------------------------------------------------------------

    async def remember(self, *records: MemoryRecord) -> Remembered:
        """Store memories of this agent on the server; ids already there are left alone."""
        return await self._ask(Remember(id=new_id(), memories=list(records)), Remembered)

    async def recall(self, query: str, *, limit: int = 5, **filters: Any) -> list[RecallResult]:
        """Search the family's memories. ``filters``: ai, session, device, kind, conversation,
        since, until (datetimes), include_superseded."""
        frame = Recall(id=new_id(), query=query, limit=limit, **filters)
        return (await self._ask(frame, Recollection)).results

    async def memory_page(self, *, after: int = 0, limit: int = 200, **filters: Any) -> MemoryPage:
        """One page of memories in the order the server stored them (``filters``: ai, since,
        until); its ``next`` is the ``after`` of the following page."""
        return await self._ask(
            Memories(id=new_id(), after=after, limit=limit, **filters), MemoryPage
        )

    async def memory_pages(
        self, *, after: int = 0, limit: int = 200, **filters: Any
    ) -> AsyncIterator[list[MemoryRecord]]:
        """Every page from ``after`` on, until the last."""
        while True:
            page = await self.memory_page(after=after, limit=limit, **filters)
            if page.memories:
                yield page.memories
            if len(page.memories) < limit:
                return
            after = page.next

    # --- brain state ------------------------------------------------------------------------

    async def save_brain(self, state: BrainState, base: int | None) -> BrainSaved:
        """Save this agent's brain state, grown from version ``base``; merged on conflict."""
        return await self._ask(BrainSave(id=new_id(), state=state, base=base), BrainSaved)

    async def load_brain(self, ai: str | None = None, version: int | None = None) -> BrainSnapshot:
        return await self._ask(BrainLoad(id=new_id(), ai=ai, version=version), BrainSnapshot)

    async def brain_history(self, ai: str | None = None, limit: int = 20) -> BrainVersions:
        return await self._ask(BrainHistory(id=new_id(), ai=ai, limit=limit), BrainVersions)

    async def _ask(self, frame: Request, answer: type[Reply]) -> Reply:
        await self._until_connected(self.timeout)
        future = self._expect(frame.id)
        assert self._ws is not None
        try:
            await self._write(self._ws, frame.to_json())
            result = await asyncio.wait_for(future, self.timeout)
        except ConnectionClosed:
            raise ConnectionLost("the connection dropped before the server answered") from None
        finally:
            self._waiters.pop(frame.id, None)
        assert isinstance(result, answer), result
        return result

    async def _write(self, ws: ClientConnection, text: str) -> None:
        """Write one frame, first waiting as long as the server's rate limit asks."""
        if self._pace is not None:
            delay = self._pace.reserve(time.monotonic())
            if delay:
                await asyncio.sleep(delay)
        await ws.send(text)

    def _expect(self, frame_id: str) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters[frame_id] = future
        return future

    # --- receiving --------------------------------------------------------------------------

    def messages(self) -> AsyncIterator[Message]:
        """Incoming messages, each once. A message is acked when the loop body that got it
        completes and the loop asks for the next; leaving the loop by ``break`` or an exception
        leaves it unacked, so the server delivers it again later (call :meth:`ack` first to
        keep that from happening)."""
        return self._inbox.messages()

    async def receive(self, timeout: float | None = None) -> Message:
        """The next incoming message; acknowledge it with :meth:`ack` once handled."""
        return await self._inbox.receive(timeout)

    def ack(self, message: Message | str) -> None:
        """Tell the server a message is handled, so it is never delivered again."""
        self._inbox.ack(message if isinstance(message, str) else message.id)

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

    def _on_deliver(self, frame: Deliver) -> None:
        if not self._inbox.is_new(frame.id):
            return
        message = Message.from_frame(frame)
        waiter = self._reply_waiters.pop(frame.reply_to, None) if frame.reply_to else None
        if waiter is not None and not waiter.done():
            waiter.set_result(message)
            self.ack(message)
            return
        self._inbox.put(message)

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

    async def _run(self, *, retry_first: bool) -> None:
        attempt = 0
        ever_connected = False
        while not self._closing:
            try:
                ws = await connect(
                    self.url,
                    open_timeout=self.timeout,
                    max_size=None,  # the server is trusted to send sane frames
                    compression=None,
                    ping_interval=20,
                    ping_timeout=20,
                )
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
                if not ever_connected and not retry_first:
                    self._failure = CannotConnect(
                        f"cannot reach a CloudBrain server at {self.url} ({exc})",
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
                if isinstance(exc, AuthError) or exc.code == ErrorCode.UNSUPPORTED_VERSION:
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
            self._to_write = deque(self._unreceipted)
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
                self._fail_requests(ConnectionLost("the connection to the server dropped"))
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
        # Stay a little under the server's limits (its bucket also counted our hello), so
        # frames are never refused, and so never retried out of order.
        limits = frame.limits
        self._pace = TokenBucket(
            limits.rate_per_second * 0.9, max(1, int(limits.rate_burst * 0.9) - 1)
        )

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
            elif isinstance(frame, Receipt):
                self._unreceipted.pop(frame.re, None)
                self._resolve(frame.re, frame)
            elif isinstance(
                frame,
                Ok
                | Pong
                | Roster
                | DeliveryStatus
                | Remembered
                | Recollection
                | MemoryPage
                | BrainSaved
                | BrainSnapshot
                | BrainVersions,
            ):
                self._resolve(frame.re, frame)

    def _on_error(self, frame: Error) -> None:
        if frame.re is None:
            log.warning("server error: %s: %s", frame.code, frame.detail)
            return
        if frame.re in self._unreceipted and frame.code in RETRYABLE:
            # Not accepted this time; write it again shortly. Messages sent after it may be
            # stored first: pacing (see _write) keeps this from happening in normal use.
            asyncio.get_running_loop().call_later(
                0.05 + random.random() * 0.1, self._retry, frame.re
            )
            return
        self._unreceipted.pop(frame.re, None)
        waiter = self._waiters.pop(frame.re, None)
        if waiter is not None and not waiter.done():
            waiter.set_exception(ServerError(frame.code, frame.detail))

    def _retry(self, message_id: str) -> None:
        if message_id in self._unreceipted and self.connected:
            # Back into its original place among what is still to be written.
            waiting = {*self._to_write, message_id}
            self._to_write = deque(i for i in self._unreceipted if i in waiting)
            task = asyncio.create_task(self._write_pending())
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)

    def _resolve(self, frame_id: str, frame: BaseModel) -> None:
        waiter = self._waiters.pop(frame_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(frame)

    def _fail_requests(self, error: BaseException) -> None:
        """Fail the waiters of requests that are not resent (message receipts are)."""
        for frame_id, waiter in list(self._waiters.items()):
            if frame_id not in self._unreceipted and not waiter.done():
                waiter.set_exception(error)
                del self._waiters[frame_id]

    def _fail_waiters(self, error: BaseException) -> None:
        for waiter in [*self._waiters.values(), *self._reply_waiters.values()]:
            if not waiter.done():
                waiter.set_exception(error)
        self._waiters.clear()
        self._reply_waiters.clear()

    def _end(self) -> None:
        """Stop for good after a failure: wake everyone waiting on this client."""
        assert self._failure is not None
        self._fail_waiters(self._failure)
        self._inbox.close(self._failure)

    async def _backoff(self, attempt: int) -> None:
        # Full jitter: a crowd of agents that lost the same server do not return in step.
        ceiling = min(self._max_backoff, 0.2 * 2 ** min(attempt, 10))
        await asyncio.sleep(random.uniform(0, ceiling))
