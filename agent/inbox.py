"""Incoming messages on the agent's side: each handed to the application once, acked after.

The server delivers at least once: after a reconnect it replays whatever was not acked, which
may include messages the application already has or has handled. The inbox tells them apart
by id: a replay of a handled message is acked again and dropped; one still being handled is
dropped; anything else is queued for the application.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator

from cloudbrain.agent.errors import ClientClosed
from cloudbrain.agent.message import Message

_END = object()  # closes the inbox


class Inbox:
    def __init__(self, dedupe_window: int) -> None:
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._in_hand: set[str] = set()  # queued for the application or being handled by it
        self._done: OrderedDict[str, None] = OrderedDict()  # handled and acked, most recent last
        self._window = dedupe_window
        self._acks: list[str] = []
        self.acks_waiting = asyncio.Event()  # set when there are acks to write
        self._failure: BaseException | None = None

    def is_new(self, message_id: str) -> bool:
        """False for a message already handled (its ack is queued again) or still in hand."""
        if message_id in self._done:
            self._queue_ack(message_id)  # a replay of something handled: confirm it again
            return False
        return message_id not in self._in_hand

    def put(self, message: Message) -> None:
        self._in_hand.add(message.id)
        self._queue.put_nowait(message)

    def ack(self, message_id: str) -> None:
        if message_id in self._done:
            return
        self._in_hand.discard(message_id)
        self._done[message_id] = None
        if len(self._done) > self._window:
            self._done.popitem(last=False)
        self._queue_ack(message_id)

    def take_acks(self, most: int) -> list[str]:
        batch, self._acks = self._acks[:most], self._acks[most:]
        return batch

    def close(self, failure: BaseException | None = None) -> None:
        self._failure = failure
        self._queue.put_nowait(_END)

    async def messages(self) -> AsyncIterator[Message]:
        while True:
            item = await self._queue.get()
            if item is _END:
                self._queue.put_nowait(_END)
                if self._failure is not None:
                    raise self._failure
                return
            assert isinstance(item, Message)
            try:
                yield item
            except GeneratorExit:
                if item.id not in self._done:
                    self._in_hand.discard(item.id)  # a later replay may hand it over again
                raise
            self.ack(item.id)

    async def receive(self, timeout: float | None) -> Message:
        item = await asyncio.wait_for(self._queue.get(), timeout)
        if item is _END:
            self._queue.put_nowait(_END)
            raise self._failure or ClientClosed("the client was closed")
        assert isinstance(item, Message)
        return item

    def _queue_ack(self, message_id: str) -> None:
        self._acks.append(message_id)
        self.acks_waiting.set()
