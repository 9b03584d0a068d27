"""The life of one WebSocket connection: hello, authentication, the read loop, the end."""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from cloudbrain import __version__
from cloudbrain.errors import CloseCode, ErrorCode
from cloudbrain.identity import authenticate
from cloudbrain.protocol import Error, Hello, Limits, Welcome
from cloudbrain.server.hub import Hub
from cloudbrain.server.legacy import LegacyClients, looks_legacy
from cloudbrain.server.metrics import Metrics
from cloudbrain.server.protocol import Accepted, ConnectionProtocol, Rejected
from cloudbrain.server.session import LiveSession
from cloudbrain.settings import Settings

log = logging.getLogger(__name__)


class ConnectionHandler:
    """Called by the websockets server once per connection."""

    def __init__(
        self,
        hub: Hub,
        engine: AsyncEngine,
        settings: Settings,
        legacy: LegacyClients | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.hub = hub
        self.metrics = metrics or Metrics()
        self.engine = engine  # where agents and their tokens are
        self.settings = settings
        self.legacy = legacy  # clients of the original protocol, when the server takes them
        self.limits = Limits(
            max_frame_bytes=settings.max_frame_bytes,
            rate_per_second=settings.rate_per_second,
            rate_burst=settings.rate_burst,
        )

    async def __call__(self, websocket: ServerConnection) -> None:
        self.metrics.connections.inc()
        try:
            await self._serve(websocket)
        finally:
            self.metrics.connections.dec()

    async def _serve(self, websocket: ServerConnection) -> None:
        protocol = ConnectionProtocol(
            rate_per_second=self.settings.rate_per_second, rate_burst=self.settings.rate_burst
        )
        peer = websocket.remote_address
        first = await self._first_frame(websocket)
        if first is None:
            return
        original = looks_legacy(first)
        if original is not None:
            if self.legacy is not None:
                await self.legacy.serve(websocket, original)
                return
            detail = (
                "this looks like a client of the original CloudBrain protocol: a server "
                "started with --legacy-protocol takes those (from this machine only)"
            )
            log.info("refused %s: original-protocol client, and --legacy-protocol is off", peer)
            await self._refuse(
                websocket,
                Error(code=ErrorCode.HELLO_REQUIRED, detail=detail),
                CloseCode.HELLO_REQUIRED,
            )
            return
        hello = await self._hello(websocket, protocol, peer, first)
        if hello is None:
            return
        agent = await authenticate(self.engine, hello.name, hello.token)
        if agent is None:
            log.info("refused %s: bad credentials for agent %r", peer, hello.name)
            await self._refuse(
                websocket,
                Error(
                    re=hello.id,
                    code=ErrorCode.AUTH_FAILED,
                    detail="unknown agent name, wrong token, or revoked agent",
                ),
                CloseCode.AUTH_FAILED,
            )
            return

        session = await self.hub.open_session(
            agent,
            websocket,
            device=hello.device,
            client=hello.client,
            capabilities=hello.capabilities,
            skills=hello.skills,
            profile=hello.profile,
        )
        session_id = session.id
        protocol.authenticated()
        session.send(
            Welcome(
                re=hello.id,
                agent=agent.name,
                session=session_id,
                server=f"cloudbrain/{__version__}",
                limits=self.limits,
            ).to_json()
        )
        self.hub.register(session)
        log.info("%r connected from %s", session, peer)
        reason = "closed"
        replay = asyncio.create_task(self.hub.replay_or_close(session), name=f"replay-{session_id}")
        try:
            await self._read_loop(websocket, protocol, session)
        except ConnectionClosed:
            pass
        except Exception:
            reason = "error"
            log.exception("%r: connection failed", session)
        finally:
            protocol.closed()
            replay.cancel()
            if websocket.close_code == CloseCode.GOING_AWAY:
                reason = "shutdown"
            elif (sent := websocket.protocol.close_sent) and sent.code == CloseCode.TOO_BIG:
                # The websockets library refused the frame and closed; say so once, here.
                reason = "frame too large"
                log.warning(
                    "%r sent a frame over %d bytes; closed with 1009",
                    session,
                    self.limits.max_frame_bytes,
                )
            elif session.closing:
                reason = websocket.close_reason or "closed by server"
            await self.hub.end_session(session, reason)
            log.info("%r disconnected (%s)", session, reason)

    async def _first_frame(self, websocket: ServerConnection) -> str | bytes | None:
        try:
            return await asyncio.wait_for(websocket.recv(), self.settings.hello_timeout)
        except TimeoutError:
            await self._refuse(
                websocket,
                Error(
                    code=ErrorCode.HELLO_TIMEOUT,
                    detail=f"no hello within {self.settings.hello_timeout:g}s",
                ),
                CloseCode.HELLO_REQUIRED,
            )
        except ConnectionClosed:
            pass
        return None

    async def _hello(
        self,
        websocket: ServerConnection,
        protocol: ConnectionProtocol,
        peer: object,
        data: str | bytes,
    ) -> Hello | None:
        verdict = protocol.receive(data, time.monotonic())
        if isinstance(verdict, Rejected):
            log.info("refused %s before hello: %s", peer, verdict.error.detail)
            await self._refuse(websocket, verdict.error, verdict.close or CloseCode.HELLO_REQUIRED)
            return None
        assert isinstance(verdict.frame, Hello)
        return verdict.frame

    async def _read_loop(
        self, websocket: ServerConnection, protocol: ConnectionProtocol, session: LiveSession
    ) -> None:
        async for data in websocket:
            verdict = protocol.receive(data, time.monotonic())
            if isinstance(verdict, Accepted):
                await self.hub.handle(session, verdict.frame)
                continue
            if verdict.log:
                log.warning(
                    "%r sent a bad frame: %s: %s", session, verdict.error.code, verdict.error.detail
                )
            self.metrics.error(verdict.error.code)
            session.send(verdict.error.to_json())
            if verdict.close is not None:
                # Keep reading until the close completes, so the error frame goes out first.
                session.close(verdict.close, verdict.error.code)

    async def _refuse(self, websocket: ServerConnection, error: Error, code: CloseCode) -> None:
        self.metrics.error(error.code)
        try:
            await websocket.send(error.to_json())
            await websocket.close(code, error.code)
        except ConnectionClosed:
            pass
