"""What the load generator drives: one sender and one receiver, as plain websockets clients of
the raw relay (``RawLink``) or two CloudBrain ``Client`` objects on the hub (``HubLink``); or
one publisher and the subscribers of a topic, the same two ways (``RawFanout``, ``HubFanout``).
Every link takes the ``Trust`` its clients check a wss:// server with (for ws://, the default)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.counting import Tally
from cloudbrain.agent.client import Client
from cloudbrain.tls import Trust, client_context

CLIENT_TIMEOUT = 10.0
TOPIC = "bench"


class Link(ABC):
    """A sender and its receivers as the load generator drives them."""

    def __init__(self, url: str, tally: Tally, trust: Trust) -> None:
        self.url = url
        self.tally = tally
        self.trust = trust
        self.on_free: Callable[[], None] = _nothing  # a message left the window
        self.on_arrival: Callable[[], None] = _nothing  # a message reached every receiver
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

    def _client(self, agent: tuple[str, str]) -> Client:
        """A hub client of agent (name, token), trusting what this link trusts."""
        return Client(self.url, *agent, device="bench", timeout=CLIENT_TIMEOUT, trust=self.trust)

    def _error(self, exc: BaseException) -> None:
        if not self._closing:
            self.errors += 1
            self.first_error = self.first_error or f"{type(exc).__name__}: {exc}"


def _nothing() -> None:
    pass


async def raw_connect(url: str, hello: dict[str, str], trust: Trust) -> ClientConnection:
    """A connection to ``bench.raw_relay``, once it has welcomed ``hello``."""
    # The TLS context a ``Client`` would use for this URL (None for ws://), so that raw and hub
    # clients differ in what they speak, not in how they encrypt it.
    tls = client_context(url, trust)
    ws = await connect(url, compression=None, open_timeout=CLIENT_TIMEOUT, ssl=tls)
    await ws.send(json.dumps(hello))
    await asyncio.wait_for(ws.recv(), CLIENT_TIMEOUT)  # the welcome
    return ws


class RawLink(Link):
    """Plain websockets clients of ``bench.raw_relay``: a message frees its window slot when
    its receiver has it, since the relay sends no receipts."""

    def __init__(
        self, url: str, tally: Tally, sender: str, receiver: str, trust: Trust = Trust()
    ) -> None:
        super().__init__(url, tally, trust)
        self.sender, self.receiver = sender, receiver
        self._rx: ClientConnection | None = None
        self._tx: ClientConnection | None = None

    async def open(self) -> None:
        self._rx = await raw_connect(self.url, {"name": self.receiver}, self.trust)
        self._tx = await raw_connect(self.url, {"name": self.sender}, self.trust)
        self._reader = asyncio.create_task(self._receive(self._rx))

    async def _receive(self, ws: ClientConnection) -> None:
        async for frame in ws:
            self.tally.on_delivered(json.loads(frame)["t"])
            self.on_free()
            self.on_arrival()

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
        self,
        url: str,
        tally: Tally,
        sender: tuple[str, str],
        receiver: tuple[str, str],
        trust: Trust = Trust(),
    ) -> None:
        super().__init__(url, tally, trust)
        self.receiver = receiver[0]
        self._rx = self._client(receiver)
        self._tx = self._client(sender)
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
            self.on_arrival()

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


class Fanout(Link):
    """One publisher and ``subscribers`` receivers of :data:`TOPIC`. Every message is numbered
    (``n`` in its body) and frees its window slot once every subscriber has it, with either
    server: that is the one completion both have (the raw relay sends no receipts), so both
    run under the same rule, and what is in flight stays ``window`` x ``subscribers``."""

    def __init__(self, url: str, tally: Tally, subscribers: int, trust: Trust) -> None:
        super().__init__(url, tally, trust)
        self.subscribers = subscribers
        self._missing: dict[int, int] = {}  # message number -> subscribers still to get it
        self._next = 0
        self._readers: list[asyncio.Task[None]] = []

    def _stamp(self) -> dict[str, int]:
        """The body of the next message, counted in flight."""
        number, self._next = self._next, self._next + 1
        self._missing[number] = self.subscribers
        return {"t": time.perf_counter_ns(), "n": number}

    def _arrived(self, body: dict[str, Any]) -> None:
        """One subscriber has the message: count it, and free its slot after the last."""
        self.tally.on_delivered(body["t"])
        number = body["n"]
        left = self._missing.pop(number, 0) - 1
        if left > 0:
            self._missing[number] = left
        elif left == 0:
            self.on_free()
            self.on_arrival()

    def _lost(self, number: int) -> None:
        """A message that failed to go out: free its slot (copies may still arrive, counted)."""
        if self._missing.pop(number, None) is not None:
            self.on_free()

    async def close(self) -> None:
        self._closing = True
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)


class RawFanout(Fanout):
    """Plain websockets clients of ``bench.raw_relay``: subscribers join the topic in their
    hello, the publisher sends ``{"topic": ...}`` frames that the relay copies to each."""

    def __init__(self, url: str, tally: Tally, subscribers: int, trust: Trust = Trust()) -> None:
        super().__init__(url, tally, subscribers, trust)
        self._rx: list[ClientConnection] = []
        self._tx: ClientConnection | None = None

    async def open(self) -> None:
        self._rx = list(
            await asyncio.gather(
                *(
                    raw_connect(self.url, {"name": f"sub{i}", "join": TOPIC}, self.trust)
                    for i in range(self.subscribers)
                )
            )
        )
        self._tx = await raw_connect(self.url, {"name": "pub"}, self.trust)
        self._readers = [asyncio.create_task(self._receive(ws)) for ws in self._rx]

    async def _receive(self, ws: ClientConnection) -> None:
        async for frame in ws:
            self._arrived(json.loads(frame))

    async def fire(self) -> None:
        assert self._tx is not None
        body = self._stamp()
        try:
            await self._tx.send(json.dumps({"topic": TOPIC, **body}))
        except Exception as exc:
            self._error(exc)
            self._lost(body["n"])

    async def close(self) -> None:
        await super().close()
        await asyncio.gather(
            *(ws.close() for ws in [*self._rx, self._tx] if ws is not None),
            return_exceptions=True,
        )


class HubFanout(Fanout):
    """:class:`Client` objects, as agents use them: each subscriber subscribes to the topic
    and acks every message after reading it; the publisher calls ``Client.publish``."""

    def __init__(
        self,
        url: str,
        tally: Tally,
        publisher: tuple[str, str],
        subscribers: list[tuple[str, str]],
        trust: Trust = Trust(),
    ) -> None:
        super().__init__(url, tally, len(subscribers), trust)
        self._tx = self._client(publisher)
        self._rx = [self._client(s) for s in subscribers]
        self._sends: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        await asyncio.gather(*(self._subscribe(client) for client in self._rx))
        await self._tx.connect()
        self._readers = [asyncio.create_task(self._receive(client)) for client in self._rx]

    @staticmethod
    async def _subscribe(client: Client) -> None:
        await client.connect()
        await client.subscribe(TOPIC)

    async def _receive(self, client: Client) -> None:
        while True:
            message = await client.receive()
            self._arrived(message.body)
            client.ack(message)

    async def fire(self) -> None:
        body = self._stamp()
        task = asyncio.create_task(self._publish(body))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _publish(self, body: dict[str, int]) -> None:
        try:
            await self._tx.publish(TOPIC, body)
        except Exception as exc:
            self._error(exc)
            self._lost(body["n"])

    async def close(self) -> None:
        self._closing = True
        for task in list(self._sends):
            task.cancel()
        await super().close()
        await asyncio.gather(
            *(client.close() for client in [self._tx, *self._rx]), return_exceptions=True
        )
