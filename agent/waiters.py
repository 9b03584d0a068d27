"""Callers waiting for an answer from the server, each on a future.

A frame that expects an answer (a message its receipt, a request its reply frame) is waited
for by its id; a request sent as a message is waited for by the id of the message that will
reply to it. Whoever reads the answer resolves the future; a dropped connection or a closed
client fails it. A request answered by several frames (an ask: its start, each answer, its
result) is waited for on a stream, a queue that ends with the last frame or an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Container
from typing import Any

from pydantic import BaseModel

from cloudbrain.agent.message import Message


class Waiters:
    def __init__(self) -> None:
        self._answers: dict[str, asyncio.Future[Any]] = {}  # frame id -> its answer
        self._replies: dict[str, asyncio.Future[Message]] = {}  # message id -> its reply
        self._streams: dict[str, asyncio.Queue[BaseModel | BaseException]] = {}

    def expect(self, frame_id: str) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._answers[frame_id] = future
        return future

    def forget(self, frame_id: str) -> None:
        """No one waits for this frame's answer any more."""
        self._answers.pop(frame_id, None)
        self._streams.pop(frame_id, None)

    def resolve(self, frame_id: str, frame: BaseModel) -> None:
        waiter = self._answers.pop(frame_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(frame)

    def stream(self, frame_id: str) -> asyncio.Queue[BaseModel | BaseException]:
        """A queue for the frames answering ``frame_id``; :meth:`forget` it when done."""
        queue: asyncio.Queue[BaseModel | BaseException] = asyncio.Queue()
        self._streams[frame_id] = queue
        return queue

    def feed(self, frame_id: str, frame: BaseModel) -> None:
        queue = self._streams.get(frame_id)
        if queue is not None:
            queue.put_nowait(frame)

    def reject(self, frame_id: str, error: BaseException) -> None:
        if (queue := self._streams.pop(frame_id, None)) is not None:
            queue.put_nowait(error)
        waiter = self._answers.pop(frame_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def expect_reply(self, message_id: str) -> asyncio.Future[Message]:
        reply: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._replies[message_id] = reply
        return reply

    def forget_reply(self, message_id: str) -> None:
        self._replies.pop(message_id, None)

    def take_reply(self, message: Message) -> bool:
        """Hand ``message`` to whoever waits for it as a reply; False if no one does."""
        waiter = self._replies.pop(message.reply_to, None) if message.reply_to else None
        if waiter is not None and not waiter.done():
            waiter.set_result(message)
            return True
        return False

    def fail_requests(self, error: BaseException, resent: Container[str]) -> None:
        """Fail the waiters of requests that are not resent (message receipts are)."""
        for frame_id, waiter in list(self._answers.items()):
            if frame_id not in resent and not waiter.done():
                waiter.set_exception(error)
                del self._answers[frame_id]
        self._fail_streams(error)

    def fail_all(self, error: BaseException) -> None:
        for waiter in [*self._answers.values(), *self._replies.values()]:
            if not waiter.done():
                waiter.set_exception(error)
        self._answers.clear()
        self._replies.clear()
        self._fail_streams(error)

    def _fail_streams(self, error: BaseException) -> None:
        for queue in self._streams.values():
            queue.put_nowait(error)
        self._streams.clear()
