"""Who may use the web view and the REST API.

Reads are open to this machine by default (``CLOUDBRAIN_HTTP_READS=loopback``); ``anyone``
opens them to every address the server listens on, and ``nobody`` asks a token for them too.
Every write needs an agent's token, ``Authorization: Bearer cb_...``, and acts as that agent.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.errors import CloudBrainError, ErrorCode, ProtocolError
from cloudbrain.identity import agent_of_token
from cloudbrain.peers import is_loopback

READ_POLICIES = ("loopback", "anyone", "nobody")


def check_policy(policy: str) -> str:
    if policy not in READ_POLICIES:
        raise CloudBrainError(
            f"CLOUDBRAIN_HTTP_READS={policy!r} is not a read policy",
            hint="use loopback (the default), anyone or nobody",
        )
    return policy


def bearer(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if there is one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class Access:
    def __init__(self, engine: AsyncEngine, policy: str) -> None:
        self.engine = engine
        self.policy = check_policy(policy)

    async def agent(self, request: Request) -> str:
        """The agent a request acts as; ``auth_failed`` without a valid token."""
        token = bearer(request)
        if token is None:
            raise ProtocolError(
                ErrorCode.AUTH_FAILED,
                "this needs an agent's token: send 'Authorization: Bearer cb_...'",
            )
        record = await agent_of_token(self.engine, token)
        if record is None:
            raise ProtocolError(ErrorCode.AUTH_FAILED, "that token is not an active agent's")
        return record.name

    async def may_read(self, request: Request) -> None:
        """Nothing when reading is allowed; ``auth_failed`` otherwise."""
        if self.policy == "anyone":
            return
        if self.policy == "loopback" and is_loopback(
            request.client.host if request.client else None
        ):
            return
        await self.agent(request)
