"""One sender and one receiver, as the load generator drives them: plain websockets clients
of the raw relay (``RawLink``), or two CloudBrain ``Client`` objects on the hub (``HubLink``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection, connect

from bench.counting import Tally
from cloudbrain.agent.client import Client

CLIENT_TIMEOUT = 10.0


class Link(ABC):
    """A sender/receiver pair as the load generator drives it."""

    def __init__(self, url: str, tally: Tally) -> None:
        self.url = url
        self.tally = tally
        self.on_free: Callable[[], None] = _nothing  # a message left the window
        self.errors = 0
        self.first_error: str | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closing = False

    @abstractmethod
    async def open(self) -> None:
        """Connect both ends; return once the receiver is reachable."""

    @abstractmethod
    async def fire(self) -> None:
        """Start sending one message stamped with the current time."""

    async def close(self) -> None:
        self._closing = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader

    def _error(self, exc: BaseException) -> None:
        if not self._closing:
            self.errors += 1
            self.first_error = self.first_error or f"{type(exc).__name__}: {exc}"


def _nothing() -> None:
    pass


class RawLink(Link):
    """Plain websockets clients of ``bench.raw_relay``: a message frees its window slot when
    its receiver has it, since the relay sends no receipts."""

    def __init__(self, url: str, tally: Tally, sender: str, receiver: str) -> None:
        super().__init__(url, tally)
        self.sender, self.receiver = sender, receiver
        self._rx: ClientConnection | None = None
        self._tx: ClientConnection | None = None

    async def open(self) -> None:
        self._rx = await self._connect(self.receiver)
        self._tx = await self._connect(self.sender)
        self._reader = asyncio.create_task(self._receive(self._rx))

    async def _connect(self, name: str) -> ClientConnection:
        ws = await connect(self.url, compression=None, open_timeout=CLIENT_TIMEOUT)
        await ws.send(json.dumps({"name": name}))
        await asyncio.wait_for(ws.recv(), CLIENT_TIMEOUT)  # the welcome
        return ws

    async def _receive(self, ws: ClientConnection) -> None:
        async for frame in ws:
            self.tally.on_delivered(json.loads(frame)["t"])
            self.on_free()

    async def fire(self) -> None:
        assert self._tx is not None
        try:
            await self._tx.send(json.dumps({"to": self.receiver, "t": time.perf_counter_ns()}))
        except Exception as exc:
            self._error(exc)
            self.on_free()

    async def close(self) -> None:
        await super().close()
        for ws in (self._tx, self._rx):
            if ws is not None:
                await ws.close()


class HubLink(Link):
    """Two :class:`Client` objects, as agents use them: a message frees its window slot when
    the sender has its receipt; the receiver acks every message after reading it."""

    def __init__(
        self, url: str, tally: Tally, sender: tuple[str, str], receiver: tuple[str, str]
    ) -> None:
        super().__init__(url, tally)
        self.receiver = receiver[0]
        self._rx = Client(url, *receiver, device="bench", timeout=CLIENT_TIMEOUT)
        self._tx = Client(url, *sender, device="bench", timeout=CLIENT_TIMEOUT)
        self._sends: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        await self._rx.connect()
        await self._tx.connect()
        self._reader = asyncio.create_task(self._receive())

    async def _receive(self) -> None:
        while True:
            message = await self._rx.receive()
            self.tally.on_delivered(message.body["t"])
            self._rx.ack(message)

    async def fire(self) -> None:
        task = asyncio.create_task(self._send(time.perf_counter_ns()))
        self._sends.add(task)
        task.add_done_callback(self._sent)

    async def _send(self, stamp: int) -> None:
        await self._tx.send(self.receiver, {"t": stamp})

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sends.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._error(task.exception() or RuntimeError())
        self.on_free()

    async def close(self) -> None:
        self._closing = True
        for task in list(self._sends):
            task.cancel()
        await super().close()
        await asyncio.gather(self._tx.close(), self._rx.close(), return_exceptions=True)
