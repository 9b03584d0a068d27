"""Talking to a server with raw frames, for tests of exactly what goes over the wire."""

from __future__ import annotations

import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from cloudbrain.ids import new_id


def raw(url: str, **kwargs: Any) -> Any:
    """``async with raw(server.url) as ws:`` a bare WebSocket, no client library."""
    return connect(url, compression=None, **kwargs)


async def send_json(ws: ClientConnection, frame: dict[str, Any]) -> None:
    await ws.send(json.dumps(frame))


async def recv_json(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    import asyncio

    data = await asyncio.wait_for(ws.recv(), timeout)
    frame = json.loads(data)
    assert isinstance(frame, dict)
    return frame


async def hello(ws: ClientConnection, name: str, token: str, **extra: Any) -> dict[str, Any]:
    await send_json(
        ws, {"v": 1, "type": "hello", "id": new_id(), "name": name, "token": token, **extra}
    )
    return await recv_json(ws)


async def closed_with(ws: ClientConnection, timeout: float = 5.0) -> int | None:
    """Wait for the server to close the connection; return the close code it sent."""
    import asyncio

    from websockets.exceptions import ConnectionClosed

    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed:
        pass
    return ws.close_code
