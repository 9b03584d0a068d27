"""How a request is answered: each service names the frames it handles and the method that
handles each; a handler returns its reply (None when the answer comes later, as a message's
receipt does) or raises :class:`ProtocolError`, which :func:`refusal` turns into the error
frame. The hub looks a frame's handler up by the frame's class.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.errors import ErrorCode, ProtocolError
from cloudbrain.identity import get_agent
from cloudbrain.protocol import ClientFrame, Error, Reply, Request
from cloudbrain.server.session import LiveSession

Handler = Callable[[LiveSession, Any], Awaitable[Reply | None]]
Handlers = dict[type[ClientFrame], Handler]


def refusal(frame: ClientFrame, error: ProtocolError) -> Error:
    """The error frame that answers ``frame`` when its handler refused it."""
    return Error(
        re=frame.id if isinstance(frame, Request) else None, code=error.code, detail=error.detail
    )


async def require_ai(engine: AsyncEngine, name: str) -> None:
    """``not_found`` when there never was an AI called ``name``: asked about it, an empty
    answer would read as if it only had nothing yet."""
    if await get_agent(engine, name) is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no AI named {name!r}")
