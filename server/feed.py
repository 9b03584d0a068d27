"""The feed: messages stored by other server nodes, for the sessions connected to this one.

In a cluster every node writes to the same database, which stays the source of truth. A node
that stores a message rings a doorbell (through Redis); every node then reads the deliveries
stored since it last looked and hands each to its own sessions of the recipient, once (a
session remembers what it was sent). The doorbell only makes this fast (a small batch comes
with the doorbell itself, and is handed over without reading it back): the feed also looks
every few seconds on its own, so a lost doorbell, or Redis being away, delays messages but
never loses them. Reading in storage order keeps each sender's messages in order.

PostgreSQL hands out positions (``seq``) before the transactions that take them commit, so a
position can appear after a higher one was already read. The feed therefore reads again, each
time, everything still pending from a few seconds back (see :class:`delivery.FeedPosition`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Iterable

from cloudbrain.server.delivery import FeedPosition, feed_among
from cloudbrain.server.session import LiveSession
from cloudbrain.storage.messages import MessageStore

log = logging.getLogger(__name__)

PAGE = 1000


class DeliveryFeed:
    def __init__(
        self,
        store: MessageStore,
        sessions_of: Callable[[str], Iterable[LiveSession]],
        local_agents: Callable[[], Collection[str]],
        poll_seconds: Callable[[], float],
    ) -> None:
        self.store = store
        self.sessions_of = sessions_of  # agent id -> its sessions on this node
        self.local_agents = local_agents  # ids of the agents with sessions on this node
        self.poll_seconds = poll_seconds  # how long to wait for a doorbell before looking
        self._rung = asyncio.Event()
        self._position = FeedPosition(0)
        self._task: asyncio.Task[None] | None = None
        self._pulling = False

    def ring(self) -> None:
        """Something new may be in the database: look soon."""
        self._rung.set()

    def offer(self, deliveries: list[tuple[str, str, list[str]]]) -> None:
        """Messages another node stored, with their frames, each (id, frame, recipient ids).
        Handed over at once when the feed is idle; while it is reading the database (or about
        to), a message handed over now could overtake an earlier one, so the feed reads it
        from there instead."""
        if self._pulling or self._rung.is_set():
            self.ring()
            return
        for message_id, text, recipient_ids in deliveries:
            for recipient_id in recipient_ids:
                for session in self.sessions_of(recipient_id):
                    session.deliver(message_id, text)

    def start(self, after: int) -> None:
        """Feed messages stored after position ``after`` (what is older, replay sends)."""
        self._position = FeedPosition(after)
        self._task = asyncio.create_task(self._run(), name="delivery feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the cancel
                # that stops this loop, when it comes just as the bell rings.
                async with asyncio.timeout(self.poll_seconds()):
                    await self._rung.wait()
            self._rung.clear()
            try:
                await self.pull()
            except Exception:
                log.exception("reading messages from other nodes failed; trying again")

    async def pull(self) -> int:
        """Hand this node's sessions what other nodes stored for them; returns how many."""
        self._pulling = True
        try:
            return await self._pull()
        finally:
            self._pulling = False

    async def _pull(self) -> int:
        now = time.monotonic()
        after = highest = self._position.after(now)
        handed = 0
        among = feed_among(self.local_agents())
        if among == []:
            return 0
        while True:
            page = await self.store.pending(None, after_seq=after, limit=PAGE, among=among)
            for pending in page:
                text: str | None = None
                for session in self.sessions_of(pending.recipient_id):
                    text = text or pending.envelope.deliver_frame().to_json()
                    session.deliver(pending.envelope.id, text)
                    handed += 1
            if page:
                after = highest = max(highest, page[-1].seq)
            if len(page) < PAGE:
                break
        self._position.read(now, highest)
        return handed
