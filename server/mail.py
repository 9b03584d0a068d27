"""The server's side of mail: the SMTP gateway's view of the family.

Mail enters the hub the way a connected agent's frames do: each sending agent gets a session
of the gateway (device ``smtp``) while its mail is handled, and its mail becomes ``send``,
``publish``, ``broadcast`` or ``ask`` frames handled by the hub, so the same checks, storage
and delivery apply. The hub's
answers to those frames come back here instead of going to a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.errors import ErrorCode
from cloudbrain.identity import authenticate, get_agent
from cloudbrain.ids import new_id
from cloudbrain.maildir.gateway import TRY_LATER, Rejected
from cloudbrain.maildir.mapping import MailRequest
from cloudbrain.protocol import ONE_SHOT_CAPABILITY, Ask, AskResult, Broadcast, Publish, Send
from cloudbrain.server.hub import Hub
from cloudbrain.server.session import LiveSession

log = logging.getLogger(__name__)

RECEIPT_WAIT = 30.0  # seconds for the database to store a message before saying 451
ASK_TIMEOUT = 20.0  # seconds live specialists get to answer a mailed question
IDLE_SECONDS = 10.0  # a sender's gateway session outlives its last mail by this much

# Refusals of the hub, as SMTP replies.
_REPLIES = {
    ErrorCode.UNKNOWN_RECIPIENT: "550 5.1.1 No such AI here",
    ErrorCode.DUPLICATE_ID: "554 5.7.0 Another sender already used this Message-ID",
    ErrorCode.INVALID_FRAME: "554 5.6.0 The message does not fit CloudBrain",
}


class _Replies:
    """Frames the hub sends to a gateway session, handed to whoever waits for their ``re``."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}

    def expect(self, re: str) -> asyncio.Future[dict[str, Any]]:
        future = asyncio.get_running_loop().create_future()
        self._waiting[re] = future
        return future

    def forget(self, re: str) -> None:
        self._waiting.pop(re, None)

    async def send(self, message: str) -> None:
        frame = json.loads(message)
        if frame.get("type") in ("receipt", "error", "ask_result"):
            future = self._waiting.pop(str(frame.get("re")), None)
            if future is not None and not future.done():
                future.set_result(frame)

    async def close(self, code: int, reason: str) -> None:
        return None


class HubFamily:
    """Implements :class:`cloudbrain.maildir.gateway.Family` with the hub."""

    def __init__(self, hub: Hub, engine: AsyncEngine) -> None:
        self.hub = hub
        self.engine = engine
        self._sessions: dict[str, tuple[LiveSession, _Replies]] = {}
        self._opening = asyncio.Lock()
        # A sender's session stays open while its mail is handled, then IDLE_SECONDS more (for
        # the next mail of a batch), then ends: one mail must not leave its sender online.
        self._users: dict[str, int] = {}
        self._idle: dict[str, asyncio.TimerHandle] = {}
        self._ending: set[asyncio.Task[None]] = set()

    async def authenticate(self, name: str, token: str) -> bool:
        return await authenticate(self.engine, name, token) is not None

    async def exists(self, name: str) -> bool:
        # Asked for the sender and every recipient of every mail: the hub remembers names.
        return await self.hub.resolve(name) is not None

    async def send(self, sender: str, request: MailRequest) -> None:
        fields: dict[str, Any] = {
            "id": request.id,
            "body": request.body,
            "meta": request.meta,
            "conversation": request.conversation,
            "reply_to": request.reply_to,
        }
        try:
            if request.kind == "topic":
                frame: Send | Publish | Broadcast = Publish(topic=request.target, **fields)
            elif request.kind == "broadcast":
                frame = Broadcast(**fields)
            else:
                frame = Send(to=request.target, **fields)
        except ValidationError as error:
            raise Rejected(f"554 5.6.0 The message does not fit CloudBrain: {error}") from None
        async with self._session(sender) as (session, replies):
            answer = await self._exchange(session, replies, frame, request.id, RECEIPT_WAIT)
        if answer["type"] == "error":
            code = answer.get("code", "")
            raise Rejected(_REPLIES.get(code, TRY_LATER) + f" ({answer.get('detail', '')})")

    async def ask(self, sender: str, request: MailRequest) -> AskResult:
        frame = Ask(
            id=new_id(),
            question=request.question[:4000],
            skills=[s[:128] for s in request.skills[:16]],
            timeout=ASK_TIMEOUT,
            ask_id=request.id,
        )
        async with self._session(sender) as (session, replies):
            answer = await self._exchange(session, replies, frame, frame.id, ASK_TIMEOUT + 30)
        if answer["type"] == "error":
            raise RuntimeError(f"the ask was refused: {answer.get('detail')}")
        return AskResult.model_validate(answer)

    async def _exchange(
        self, session: LiveSession, replies: _Replies, frame: Any, re: str, wait: float
    ) -> dict[str, Any]:
        future = replies.expect(re)
        try:
            await self.hub.handle(session, frame)
            return await asyncio.wait_for(future, wait)
        finally:
            replies.forget(re)

    @contextlib.asynccontextmanager
    async def _session(self, name: str) -> AsyncIterator[tuple[LiveSession, _Replies]]:
        """The gateway's session for agent ``name``, opened on its first mail and held while
        the mail is handled."""
        async with self._opening:
            if name not in self._sessions:
                agent = await get_agent(self.engine, name)
                if agent is None or not agent.active:
                    raise Rejected(f"550 5.7.1 No active agent called {name!r} may send here")
                replies = _Replies()
                session = await self.hub.open_session(
                    agent,
                    replies,
                    device="smtp",
                    client="smtp-gateway",
                    capabilities=[ONE_SHOT_CAPABILITY],
                )
                self._sessions[name] = (session, replies)
            if (idle := self._idle.pop(name, None)) is not None:
                idle.cancel()
            self._users[name] = self._users.get(name, 0) + 1
        try:
            yield self._sessions[name]
        finally:
            self._users[name] -= 1
            if not self._users[name]:
                del self._users[name]
                loop = asyncio.get_running_loop()
                self._idle[name] = loop.call_later(IDLE_SECONDS, self._end_idle, name)

    def _end_idle(self, name: str) -> None:
        del self._idle[name]
        session, _ = self._sessions.pop(name)
        task = asyncio.create_task(self.hub.end_session(session, "mail handled"))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    async def close(self) -> None:
        for idle in self._idle.values():
            idle.cancel()
        self._idle.clear()
        await asyncio.gather(*self._ending, return_exceptions=True)
        for session, _ in self._sessions.values():
            await self.hub.end_session(session, "gateway stopped")
        self._sessions.clear()
