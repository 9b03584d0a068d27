"""The baseline for ``bench.relay``: the least a WebSocket message relay can do.

Written straight on the ``websockets`` asyncio API, with none of what CloudBrain adds: no
authentication, no validation beyond reading ``to`` (or ``topic``), no persistence, no receipts,
no acks, no replay. A client connects and sends ``{"name": NAME}`` as its first text frame; the
relay answers ``{"welcome": NAME}`` (so the client knows it is reachable) and from then on
forwards every frame ``{"to": OTHER, ...}``, unchanged, to the connection registered as OTHER.
Frames for a name nobody holds, and frames that are not such JSON objects, are dropped.

For fan-out, the hello may also hold ``"join": TOPIC``; the relay then copies every frame
``{"topic": TOPIC, ...}``, unchanged, to every connection that joined TOPIC, except its sender
(as the hub does for a publish). Joining in the hello, before the welcome, means a client that
has its welcome is sure to get the next topic frame: no race with a separate join frame.

With ``--tls-cert`` and ``--tls-key`` it listens for wss:// instead of ws://.

    python -m bench.raw_relay --port 9000
    python -m bench.raw_relay --port 9000 --tls-cert server.pem --tls-key server-key.pem
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import ssl
from typing import Any

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from cloudbrain.tls import server_context

HELLO_TIMEOUT = 5.0


class Relay:
    """Connections by name and by topic, and the handler the websockets server calls for
    each one."""

    def __init__(self) -> None:
        self.peers: dict[str, ServerConnection] = {}
        self.topics: dict[str, set[ServerConnection]] = {}

    async def __call__(self, websocket: ServerConnection) -> None:
        name = await self._register(websocket)
        if name is None:
            return
        try:
            async for frame in websocket:
                await self._forward(frame, websocket)
        except ConnectionClosed:
            pass
        finally:
            if self.peers.get(name) is websocket:
                del self.peers[name]
            for members in self.topics.values():
                members.discard(websocket)

    async def _register(self, websocket: ServerConnection) -> str | None:
        try:
            hello = _object(await asyncio.wait_for(websocket.recv(), HELLO_TIMEOUT))
            name = _string(hello, "name")
            if name is None:
                await websocket.close(1008, 'the first frame must be {"name": ...}')
                return None
            self.peers[name] = websocket
            topic = _string(hello, "join")
            if topic is not None:
                self.topics.setdefault(topic, set()).add(websocket)
            await websocket.send(json.dumps({"welcome": name}))
        except (TimeoutError, ConnectionClosed):
            return None
        return name

    async def _forward(self, frame: str | bytes, sender: ServerConnection) -> None:
        data = _object(frame)
        to, topic = _string(data, "to"), _string(data, "topic")
        if topic is not None:
            # ``broadcast`` writes every copy at once, without waiting for slow readers: the
            # cheapest fan-out websockets offers (the load generator bounds what is in flight).
            members = self.topics.get(topic, ())
            broadcast((peer for peer in members if peer is not sender), frame)
            return
        target = self.peers.get(to) if to is not None else None
        if target is not None:
            with contextlib.suppress(ConnectionClosed):
                await target.send(frame)


def _object(frame: str | bytes) -> dict[str, Any]:
    """The frame as a JSON object; empty if it is not one."""
    try:
        data: Any = json.loads(frame)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _string(data: dict[str, Any], key: str) -> str | None:
    """``data[key]`` if it is a string, else None."""
    value = data.get(key)
    return value if isinstance(value, str) else None


async def run(host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
    """Serve (over TLS with ``tls``) until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve(
        Relay(), host, port, compression=None, max_size=1024 * 1024, ping_interval=20, ssl=tls
    ):
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.raw_relay",
        description="A minimal WebSocket relay (no persistence, no acks): the baseline "
        "bench.relay measures the CloudBrain hub against.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    parser.add_argument("--port", type=int, required=True, help="port to listen on")
    parser.add_argument("--tls-cert", default="", help="PEM certificate (chain): serve wss://")
    parser.add_argument("--tls-key", default="", help="its PEM key")
    args = parser.parse_args()
    # The hub's own server context, so that with TLS the two servers differ only in what they
    # relay, not in protocol versions or ciphers.
    asyncio.run(run(args.host, args.port, server_context(args.tls_cert, args.tls_key)))


if __name__ == "__main__":
    main()
