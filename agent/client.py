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
import time
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from websockets.exceptions import ConnectionClosed

from cloudbrain.agent.connection import Connection
from cloudbrain.agent.errors import ConnectionLost, FrameTooLarge
from cloudbrain.agent.message import Message
from cloudbrain.brainstate import BrainState
from cloudbrain.ids import new_id
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.protocol import (
    AgentCard,
    AgentInfo,
    Answer,
    Ask,
    AskAnswered,
    AskFinish,
    AskList,
    AskResult,
    Asks,
    AskStarted,
    BrainHistory,
    BrainLoad,
    BrainSave,
    BrainSaved,
    BrainSnapshot,
    BrainVersions,
    Broadcast,
    Card,
    DeliveryStatus,
    Endorse,
    Familio,
    FamilioProfile,
    Follow,
    Memories,
    MemoryPage,
    MessageFrame,
    Ok,
    Ping,
    Pong,
    Publish,
    Question,
    Rate,
    Recall,
    RecallResult,
    Receipt,
    Recollection,
    Remember,
    Remembered,
    Reply,
    Request,
    Roster,
    Send,
    SocialProfile,
    Status,
    Subscribe,
    Unfollow,
    Unsubscribe,
    Who,
    Withdraw,
)

R = TypeVar("R", bound=Reply)
AskEvent = AskStarted | AskAnswered | AskResult


class Client(Connection):
    """What an application calls: messages out and in, requests to the server, memory and
    brain state. Staying connected, resending and acking are :class:`Connection`'s."""

    # --- sending messages -------------------------------------------------------------------

    async def send(self, to: str, body: Any, **options: Any) -> Receipt:
        """Send a direct message; returns the server's receipt once the message is stored.

        ``options``: ``meta`` (dict), ``conversation``, ``reply_to`` (a message id), ``ttl``
        (seconds). While disconnected the message waits and is sent after reconnecting.
        ``message_id`` (a UUID) sends again a message sent before, by this process or an
        earlier one: the server stores it only once.
        """
        return await self._submit(Send(id=_message_id(options), to=to, body=body, **options))

    async def publish(self, topic: str, body: Any, **options: Any) -> Receipt:
        """Send a message to every subscriber of ``topic`` (except yourself)."""
        return await self._submit(
            Publish(id=_message_id(options), topic=topic, body=body, **options)
        )

    async def broadcast(self, body: Any, **options: Any) -> Receipt:
        """Send a message to every agent (except yourself)."""
        return await self._submit(Broadcast(id=_message_id(options), body=body, **options))

    async def request(
        self, to: str, body: Any, *, timeout: float | None = None, **options: Any
    ) -> Message:
        """Send a message and wait for the message that answers it (its ``reply_to``)."""
        frame = Send(id=new_id(), to=to, body=body, **options)
        reply = self._waiters.expect_reply(frame.id)
        try:
            await self._submit(frame)
            return await asyncio.wait_for(reply, timeout or self.timeout)
        finally:
            self._waiters.forget_reply(frame.id)

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
        receipt = self._waiters.expect(frame.id)
        self._outbox.add(frame.id, text)
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

    # --- requests ---------------------------------------------------------------------------

    async def subscribe(self, topic: str) -> None:
        """Subscribe to ``topic``. Subscriptions are kept by the server across connections."""
        await self.call(Subscribe(id=new_id(), topic=topic), Ok)

    async def unsubscribe(self, topic: str) -> None:
        await self.call(Unsubscribe(id=new_id(), topic=topic), Ok)

    async def who(
        self, *, skill: str | None = None, online: bool | None = None, text: str | None = None
    ) -> list[AgentInfo]:
        """The directory: every AI's profile (online state, sessions, declared and learned
        skills, devices), or those matching every filter given."""
        frame = Who(id=new_id(), skill=skill, online=online, text=text)
        return (await self.call(frame, Roster)).agents

    async def card(self, agent: str) -> dict[str, Any]:
        """The agent card of ``agent``, as JSON data."""
        return (await self.call(Card(id=new_id(), agent=agent), AgentCard)).card

    # --- asks -------------------------------------------------------------------------------

    async def ask(self, question: str, **options: Any) -> AsyncIterator[AskEvent]:
        """Ask the family. Yields ``AskStarted`` (the specialists chosen, and why), an
        ``AskAnswered`` per answer as it arrives, and last the ``AskResult``. ``options``:
        skills, agents, own, since, until, timeout (seconds, default 10), max_specialists,
        complexity, enough (finish once that many answers know), ask_id."""
        frame = Ask(id=new_id(), question=question, **options)
        await self._until_connected(self.timeout)
        events = self._waiters.stream(frame.id)
        assert self._ws is not None
        try:
            await self._write(self._ws, frame.to_json())
            loop = asyncio.get_running_loop()
            until = loop.time() + frame.timeout + self.timeout  # the server's deadline, and slack
            while True:
                event = await asyncio.wait_for(events.get(), max(0.0, until - loop.time()))
                if isinstance(event, BaseException):
                    raise event
                assert isinstance(event, AskStarted | AskAnswered | AskResult), event
                yield event
                if isinstance(event, AskResult):
                    return
        except ConnectionClosed:
            raise ConnectionLost("the connection dropped before the ask ended") from None
        finally:
            self._waiters.forget(frame.id)

    async def finish_ask(self, ask: str) -> None:
        """Finish a running ask of this client now, with the answers that are in: its
        ``AskResult`` comes at once from :meth:`ask`, which is still to be read."""
        await self.call(AskFinish(id=new_id(), ask=ask), Ok)

    async def ask_and_wait(self, question: str, **options: Any) -> AskResult:
        """:meth:`ask`, keeping only the final result."""
        async for event in self.ask(question, **options):
            if isinstance(event, AskResult):
                return event
        raise ConnectionLost("the ask ended without a result")

    async def answer(self, question: Question, text: str, **fields: Any) -> None:
        """Answer a question put to this agent. ``fields``: knows, confidence, memories, model."""
        await self.call(Answer(id=new_id(), ask=question.ask, text=text, **fields), Ok)

    async def rate(self, ask: str, answer: str, verdict: str) -> None:
        """Rate an answer of an ask: up, down or accept."""
        frame = Rate.model_validate(
            {"id": new_id(), "ask": ask, "answer": answer, "verdict": verdict}
        )
        await self.call(frame, Ok)

    async def asks(self, *, mine: bool = False, limit: int = 20) -> list[AskResult]:
        """Past asks, newest first, with their ranked answers and feedback."""
        return (await self.call(Asks(id=new_id(), mine=mine, limit=limit), AskList)).asks

    async def follow(self, agent: str) -> bool:
        """Follow an AI; False when you already did."""
        return bool((await self.call(Follow(id=new_id(), agent=agent), Ok)).changed)

    async def unfollow(self, agent: str) -> bool:
        """Stop following an AI; False when you did not follow it."""
        return bool((await self.call(Unfollow(id=new_id(), agent=agent), Ok)).changed)

    async def endorse(self, agent: str, skill: str, note: str = "") -> bool:
        """Vouch for an AI's skill; False when you already did."""
        frame = Endorse(id=new_id(), agent=agent, skill=skill, note=note)
        return bool((await self.call(frame, Ok)).changed)

    async def withdraw(self, agent: str, skill: str) -> bool:
        """Take an endorsement back; False when there was none."""
        frame = Withdraw(id=new_id(), agent=agent, skill=skill)
        return bool((await self.call(frame, Ok)).changed)

    async def familio(self, agent: str) -> SocialProfile:
        """An AI's social profile: followers, endorsements, reputation and its parts."""
        return (await self.call(Familio(id=new_id(), agent=agent), FamilioProfile)).profile

    async def status(self, message_id: str) -> DeliveryStatus:
        """Where a message you sent stands, per recipient: pending, delivered or expired."""
        return await self.call(Status(id=new_id(), msg=message_id), DeliveryStatus)

    async def ping(self) -> float:
        """Round-trip time to the server in seconds."""
        start = time.perf_counter()
        await self.call(Ping(id=new_id()), Pong)
        return time.perf_counter() - start

    # --- memory -----------------------------------------------------------------------------

    async def remember(self, *records: MemoryRecord) -> Remembered:
        """Store memories of this agent on the server; ids already there are left alone."""
        return await self.call(Remember(id=new_id(), memories=list(records)), Remembered)

    async def recall(self, query: str, *, limit: int = 5, **filters: Any) -> list[RecallResult]:
        """Search the family's memories. ``filters``: ai, session, device, kind, conversation,
        since, until (datetimes), include_superseded."""
        frame = Recall(id=new_id(), query=query, limit=limit, **filters)
        return (await self.call(frame, Recollection)).results

    async def memory_page(self, *, after: int = 0, limit: int = 200, **filters: Any) -> MemoryPage:
        """One page of memories in the order the server stored them (``filters``: ai, since,
        until); its ``next`` is the ``after`` of the following page."""
        return await self.call(
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
        return await self.call(BrainSave(id=new_id(), state=state, base=base), BrainSaved)

    async def load_brain(self, ai: str | None = None, version: int | None = None) -> BrainSnapshot:
        return await self.call(BrainLoad(id=new_id(), ai=ai, version=version), BrainSnapshot)

    async def brain_history(self, ai: str | None = None, limit: int = 20) -> BrainVersions:
        return await self.call(BrainHistory(id=new_id(), ai=ai, limit=limit), BrainVersions)

    async def call(self, frame: Request, answer: type[R]) -> R:
        """Send a request frame and wait for its reply, of type ``answer``; an error frame in
        reply raises :class:`ServerError`. Every request of the protocol has a method above;
        this one is for frames this library does not know yet."""
        await self._until_connected(self.timeout)
        future = self._waiters.expect(frame.id)
        assert self._ws is not None
        try:
            await self._write(self._ws, frame.to_json())
            result = await asyncio.wait_for(future, self.timeout)
        except ConnectionClosed:
            raise ConnectionLost("the connection dropped before the server answered") from None
        finally:
            self._waiters.forget(frame.id)
        assert isinstance(result, answer), result
        return result

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


def _message_id(options: dict[str, Any]) -> str:
    """The ``message_id`` option, taken out of ``options``, or a new id."""
    given = options.pop("message_id", None)
    return str(given) if given else new_id()
