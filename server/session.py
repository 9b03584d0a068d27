"""One live connection of an agent, as the hub sees it: where its frames go, and in what order.

Frames for the connection go through a bounded outbox drained by one task, so nobody waits on a
slow reader. While unacked messages are replayed from the database, live deliveries are held
back and released after the replay, minus what the replay already sent: replay first, in order,
and nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from typing import Protocol

from websockets.exceptions import ConnectionClosed

from cloudbrain.errors import CloseCode
from cloudbrain.identity import AgentRecord
from cloudbrain.protocol import DeviceProfile

log = logging.getLogger(__name__)

SENT_REMEMBERED = 1000  # message ids a session remembers having been sent


class Transport(Protocol):
    """Where a session's frames go: a WebSocket connection, or a gateway inside the server."""

    async def send(self, message: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class Named(Protocol):
    @property
    def name(self) -> str: ...


class Peer(Protocol):
    """A session the hub can put frames to: one of this node's (:class:`LiveSession`), or one
    on another node of the cluster (``cloudbrain.server.cluster.RemoteSession``)."""

    @property
    def agent(self) -> Named: ...

    id: str
    device: str
    capabilities: frozenset[str]
    profile: DeviceProfile | None
    closing: bool

    def send(self, text: str) -> None: ...


class LiveSession:
    def __init__(
        self,
        agent: AgentRecord,
        session_id: str,
        device: str,
        capabilities: list[str],
        websocket: Transport,
        outbox_limit: int,
        profile: DeviceProfile | None = None,
    ) -> None:
        self.agent = agent
        self.profile = profile  # what its device can do, as announced
        self.id = session_id
        self.device = device
        self.capabilities = frozenset(capabilities)
        self._websocket = websocket
        self._outbox: asyncio.Queue[str] = asyncio.Queue(outbox_limit)
        self._hold_limit = outbox_limit
        self._replaying = True
        self._held: list[tuple[str, str]] = []
        self._held_overflowed = False
        self._replayed: set[str] = set()
        # Ids of the messages sent to this session lately, so a message that reaches it twice
        # (stored here and seen again in the database by the cluster's feed) is sent once.
        self._sent: OrderedDict[str, None] = OrderedDict()
        self._writer = asyncio.create_task(self._drain(), name=f"outbox-{session_id}")
        self.closing = False
        self._closer: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<session {self.id} of {self.agent.name!r} on {self.device!r}>"

    # --- sending ----------------------------------------------------------------------------

    def send(self, text: str) -> None:
        """Queue a frame without waiting. A reader so slow that its outbox fills up is
        disconnected; what it missed is stored and comes back as replay when it reconnects."""
        if self.closing:
            return
        try:
            self._outbox.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("%r reads too slowly (outbox full); disconnecting it", self)
            self.close(CloseCode.TRY_AGAIN_LATER, "reading too slowly; reconnect to resume")

    def first_time(self, message_id: str) -> bool:
        """True the first time a message is handed to this session (of the last
        :data:`SENT_REMEMBERED`), so it goes out once however it arrived."""
        if message_id in self._sent:
            return False
        self._sent[message_id] = None
        if len(self._sent) > SENT_REMEMBERED:
            self._sent.popitem(last=False)
        return True

    def deliver(self, message_id: str, text: str) -> None:
        """A live message for this session: sent now, or held back until the replay is over."""
        if not self.first_time(message_id):
            return
        if not self._replaying:
            self.send(text)
        elif len(self._held) < self._hold_limit:
            self._held.append((message_id, text))
        else:
            # Nothing is lost: the message is stored, and the replay will read it again.
            self._held_overflowed = True

    async def send_replayed(self, message_id: str, text: str) -> None:
        """A message read back from the database; waits for room, unlike live traffic."""
        self.first_time(message_id)
        self._replayed.add(message_id)
        await self._outbox.put(text)

    def finish_replay(self) -> bool:
        """End the replay, releasing held messages. False when held messages overflowed and
        were dropped: then the caller must read the database once more."""
        if self._held_overflowed:
            self._held_overflowed = False
            self._held.clear()
            return False
        self._replaying = False
        for message_id, text in self._held:
            if message_id not in self._replayed:
                self.send(text)
        self._held.clear()
        self._replayed.clear()
        return True

    # --- closing ----------------------------------------------------------------------------

    def close(self, code: CloseCode, reason: str) -> None:
        """Close the connection from the server's side, after the frames already queued."""
        if self.closing:
            return
        self.closing = True
        self._closer = asyncio.create_task(self._close_after_drain(code, reason))

    async def _close_after_drain(self, code: CloseCode, reason: str) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._outbox.join(), timeout=2.0)
        await self._websocket.close(code, reason)

    async def stop(self) -> None:
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer

    async def _drain(self) -> None:
        try:
            while True:
                text = await self._outbox.get()
                try:
                    await self._websocket.send(text)
                finally:
                    self._outbox.task_done()
        except ConnectionClosed:
            pass
