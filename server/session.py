"""One live connection of an agent, as the hub sees it: where its frames go, and in what order.

Frames for the connection go through an outbox drained by one task, so nobody waits on a slow
reader. The outbox is bounded in frames and in bytes, for the session and for the whole node
(:class:`~cloudbrain.server.outbox.OutboxBudget`): a reader that falls too far behind is
disconnected, and gets what it missed as replay when it reconnects. While unacked messages are
replayed from the database, live deliveries are held back and released after the replay, minus
what the replay already sent: replay first, in order, and nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from websockets.exceptions import ConnectionClosed

from cloudbrain.errors import CloseCode
from cloudbrain.protocol import DeviceProfile
from cloudbrain.server.delivery import ReplayOrder
from cloudbrain.server.outbox import OutboxBudget, frame_bytes
from cloudbrain.storage.agents import AgentRecord

log = logging.getLogger(__name__)

TOO_SLOW = "reading too slowly; reconnect to resume"  # the reason of the 1013 close


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
        outboxes: OutboxBudget[LiveSession],
        profile: DeviceProfile | None = None,
    ) -> None:
        self.agent = agent
        self.profile = profile  # what its device can do, as announced
        self.id = session_id
        self.device = device
        self.capabilities = frozenset(capabilities)
        self._websocket = websocket
        # Unbounded as a queue: the budget bounds it, in frames and bytes, before every put.
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._budget = outboxes
        self._room = asyncio.Event()  # set whenever bytes of this outbox are given back
        self._order = ReplayOrder()  # replay first, then live messages, and none twice
        self.closing = False
        self._ended = False  # nothing more can be written: stopped, or the connection closed
        self._closer: asyncio.Task[None] | None = None
        self._writer = asyncio.create_task(self._drain(), name=f"outbox-{session_id}")

    def __repr__(self) -> str:
        return f"<session {self.id} of {self.agent.name!r} on {self.device!r}>"

    @property
    def writable(self) -> bool:
        """Whether frames for this session can still go out (it is not closing or over)."""
        return not (self.closing or self._ended)

    # --- sending ----------------------------------------------------------------------------

    def send(self, text: str) -> None:
        """Queue a frame without waiting. A reader so slow that its outbox fills up is
        disconnected; what it missed is stored and comes back as replay when it reconnects."""
        if self.writable:
            self._queue(text, frame_bytes(text))

    def _queue(self, text: str, size: int) -> None:
        budget = self._budget
        if self._outbox.qsize() >= budget.session_frames:
            log.warning(
                "%r reads too slowly (%d frames queued); disconnecting it",
                self,
                budget.session_frames,
            )
            self.close(CloseCode.TRY_AGAIN_LATER, TOO_SLOW)
            return
        if self._order.held and not budget.room(self, size):
            # Held messages are the cheapest thing to give up: the replay reads them again.
            self._drop_held()
        verdict = budget.admit(self, size)
        for victim in verdict.evict:
            victim._evict()
        if verdict.admitted:
            budget.take(self, size)
            self._outbox.put_nowait(text)
        elif self not in verdict.evict:
            log.warning(
                "%r reads too slowly (%d bytes queued, %d more would pass its budget of %d); "
                "disconnecting it",
                self,
                budget.held(self),
                size,
                budget.session_bytes,
            )
            self.close(CloseCode.TRY_AGAIN_LATER, TOO_SLOW)

    def deliver(self, message_id: str, text: str) -> None:
        """A live message for this session: sent now, or held back until the replay is over
        (see :class:`ReplayOrder`)."""
        action = self._order.live(message_id)
        if action == "send":
            self.send(text)
        elif action == "hold" and self.writable:
            size = frame_bytes(text)
            # Held messages never cost anyone a connection: one that does not fit is dropped,
            # and the replay reads it again from the database, which costs only a query.
            budget = self._budget
            if len(self._order.held) < budget.session_frames and budget.room(self, size):
                budget.take(self, size)
                self._order.hold(message_id, text, size)
            else:
                self._drop_held()

    async def send_replayed(self, message_id: str, text: str) -> None:
        """A message read back from the database; waits for room, unlike live traffic."""
        self._order.replayed(message_id)
        size = frame_bytes(text)
        budget = self._budget
        while self.writable:
            if self._order.held and not budget.room(self, size):
                # Held messages must not take the room the replay waits for: they are only
                # released when the replay ends, so waiting on them would never end.
                self._drop_held()
            if self._outbox.qsize() < budget.session_frames:
                verdict = budget.admit(self, size, replay=True)
                for victim in verdict.evict:
                    victim._evict()
                if verdict.admitted:
                    budget.take(self, size)
                    self._outbox.put_nowait(text)
                    return
            # Its own outbox is full, or it holds the most of a full node: either way what it
            # holds is written as its reader reads, and that gives the room back.
            self._room.clear()
            await self._room.wait()

    def finish_replay(self) -> bool:
        """End the replay, releasing held messages. False when held messages overflowed and
        were dropped: then the caller must read the database once more."""
        ended, release, freed = self._order.finish()
        self._budget.release(self, freed)
        for text in release:
            self.send(text)
        return ended

    def _drop_held(self) -> None:
        """Give up the held messages; the replay must read the database once more."""
        self._budget.release(self, self._order.drop_held())

    def _discard(self) -> None:
        """Give back at once every byte waiting here, but for the frame being written."""
        while True:
            try:
                text = self._outbox.get_nowait()
            except asyncio.QueueEmpty:
                break
            self._outbox.task_done()
            self._budget.release(self, frame_bytes(text))
        if self._order.held:
            self._drop_held()
        self._room.set()

    def _evict(self) -> None:
        """Disconnected for the node's budget, as the session holding the most: its outbox is
        emptied now, since freeing that memory is the point."""
        log.warning(
            "the outbox budget of the node (%d bytes) is full; disconnecting %r, which holds the "
            "most (%d bytes)",
            self._budget.node_bytes,
            self,
            self._budget.held(self),
        )
        self._discard()
        # Off the books now: the frame being written, all it still holds, is not counted again
        # in the next decision (it would make the node disconnect someone else for it).
        self._budget.forget(self)
        self.close(CloseCode.TRY_AGAIN_LATER, TOO_SLOW)

    # --- closing ----------------------------------------------------------------------------

    def close(self, code: CloseCode, reason: str) -> None:
        """Close the connection from the server's side, after the frames already queued."""
        if self.closing:
            return
        self.closing = True
        self._room.set()  # a replay waiting for room stops waiting
        self._closer = asyncio.create_task(self._close_after_drain(code, reason))

    async def _close_after_drain(self, code: CloseCode, reason: str) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._outbox.join(), timeout=2.0)
        await self._websocket.close(code, reason)

    async def stop(self) -> None:
        """The session is over: stop writing, and give its memory back to the node now."""
        self._ended = True
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        self._discard()
        self._budget.forget(self)

    async def _drain(self) -> None:
        try:
            while True:
                text = await self._outbox.get()
                try:
                    await self._websocket.send(text)
                finally:
                    self._outbox.task_done()
                    self._budget.release(self, frame_bytes(text))
                    self._room.set()
        except ConnectionClosed:
            pass
        finally:
            # Nothing more goes out on this connection: what waits for it would only hold
            # memory until the session is stopped.
            self._ended = True
            self._discard()
