"""Clients of the original CloudBrain protocol, served unchanged on the same port when the
server runs with ``--legacy-protocol``.

Such a client opens with ``{"ai_id": N, ...}`` (no token: the original protocol has none, so
these clients cannot prove who they are; the server takes them only from this machine, never
from a web page, and only as identities made for them: see :mod:`legacy_admission`). It is
answered ``{"type": "connected", ...}`` and then speaks ``send_message``, ``get_online_users``,
``heartbeat``, ``brain_save_state``, ``brain_load_state`` and ``familio_follow_ai``.

Underneath it is an ordinary session of a CloudBrain identity (see :mod:`legacy_ids`): what it
sends is stored and delivered like any message (``send_message`` went to everyone, so it is a
broadcast; as the original server did, the sender sees it too), and whatever reaches the
identity (direct messages, topics, broadcasts from new agents) arrives as ``new_message``.
The original protocol has no acks and no request ids, and its clients read a reply as the
next frame that comes. Two rules follow, so that nothing is lost (see :data:`REPLAY_AFTER` and
:data:`ACK_AFTER`): stored messages are replayed only after the client's first request has been
answered, and a message is acked only once the connection stayed open for a while after it
was written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from cloudbrain.errors import CloseCode, ProtocolError
from cloudbrain.familio.social import SocialChanges
from cloudbrain.ids import new_id
from cloudbrain.peers import is_loopback
from cloudbrain.protocol import Broadcast, Deliver
from cloudbrain.server.hub import Hub
from cloudbrain.server.legacy_admission import Admission, Opening, Refused
from cloudbrain.server.legacy_ids import (
    LegacyIds,
    original_identity,
    state_from_save,
    state_to_legacy,
    updated_state,
)
from cloudbrain.server.session import LiveSession
from cloudbrain.settings import Settings
from cloudbrain.storage.agents import AgentRecord
from cloudbrain.storage.brains import BrainStore
from cloudbrain.storage.legacy_ids import LegacyAI
from cloudbrain.storage.messages import MessageStore

log = logging.getLogger(__name__)

DEVICE = "legacy"
CLIENT = "cloudbrain-original-protocol"

# The original CloudBrainClient reads the answer to get_online_users as whatever frame comes
# next. Stored messages replayed right after ``connected`` would come first: taken for the
# answer (it returns no one), and thrown away. So the replay, and the live messages held back
# behind it, wait until the client's first frame has been answered; a client that only
# listens, and says nothing, gets them after this many seconds of its silence.
REPLAY_AFTER = 1.0
# The original protocol has no acks, and a message written to a client is not one it has read:
# a client that reads a reply and goes away leaves what followed it unread. So a message is
# acked only once the connection stayed open this many seconds after it was written; if it
# closes before, the message stays unacked and is replayed the next time. (Original clients
# are taken from this machine only, where a closed connection is seen at once.) A client that
# goes away within this time of reading a message gets it again: at least once, never lost.
ACK_AFTER = 2.0


def looks_legacy(data: str | bytes) -> dict[str, Any] | None:
    """The first frame of an original-protocol client (``ai_id``, no ``type``), if it is one."""
    try:
        frame = json.loads(data)
    except ValueError:
        return None
    if isinstance(frame, dict) and "ai_id" in frame and "type" not in frame:
        return frame
    return None


def now() -> str:
    return datetime.now(UTC).isoformat()


class LegacyClients:
    def __init__(
        self,
        hub: Hub,
        store: MessageStore,
        settings: Settings,
        brains: BrainStore,
        social: SocialChanges,
    ) -> None:
        self.hub = hub
        self.store = store
        self.settings = settings
        self.ids = LegacyIds(store.engine)
        self.admission = Admission(self.ids, settings.legacy_new_per_hour)
        self.social = social
        self.brains = brains

    async def serve(self, websocket: ServerConnection, first: dict[str, Any]) -> None:
        """The whole life of one original-protocol connection, after its first frame."""
        peer = websocket.remote_address
        try:
            if not is_loopback(peer):
                raise Refused(
                    "original-protocol clients are taken from this machine only", CloseCode.POLICY
                )
            if websocket.request is not None and "Origin" in websocket.request.headers:
                # Browsers send Origin with every WebSocket upgrade and the original clients
                # never do: this is a web page, and a page open in a browser here must not
                # speak for the AIs of this machine.
                raise Refused(
                    "a client that sends an Origin header (a web page) cannot connect with the "
                    "original protocol",
                    CloseCode.POLICY,
                )
            ai, agent = await self.admission.admit(Opening.parse(first))
        except Refused as refused:
            log.info("refused an original-protocol client from %s: %s", peer, refused.error)
            await _refuse(websocket, refused)
            return
        client = _Client(self, websocket, agent, ai)
        session = client.session = await self.hub.open_session(
            agent, client, device=DEVICE, client=CLIENT
        )
        session_id = session.id
        await _send(
            websocket,
            {
                "type": "connected",
                "ai_id": ai.number,
                "ai_name": agent.name,
                "ai_nickname": ai.nickname,
                "ai_expertise": ", ".join(agent.skills),
                "ai_version": ai.version,
                "ai_project": str(first.get("project") or ai.project),
                "timestamp": now(),
            },
        )
        self.hub.register(session)
        log.info("%r connected with the original protocol (AI %d)", session, ai.number)
        reason = "closed"
        replay = asyncio.create_task(self._replay(session, client), name=f"replay-{session_id}")
        try:
            async for data in websocket:
                await client.handle(data)
        except ConnectionClosed:
            pass
        except Exception:
            reason = "error"
            log.exception("%r: original-protocol connection failed", session)
        finally:
            client.stop()  # first: what was written but not yet acked stays unacked
            replay.cancel()
            await self.hub.end_session(session, reason)
            log.info("%r disconnected (%s)", session, reason)

    async def _replay(self, session: LiveSession, client: _Client) -> None:
        """Replay what is unacked once the first request is answered (see REPLAY_AFTER)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(client.answered.wait(), REPLAY_AFTER)
        await self.hub.replay_or_close(session)


class _Client:
    """One original-protocol client: the transport of its session (frames for it are
    translated on the way out) and the handler of what it sends."""

    def __init__(
        self, clients: LegacyClients, websocket: ServerConnection, agent: AgentRecord, ai: LegacyAI
    ) -> None:
        self.clients = clients
        self.websocket = websocket
        self.agent = agent
        self.ai = ai
        self.session: LiveSession | None = None
        self._echo: dict[str, dict[str, Any]] = {}  # message id -> new_message for the sender
        # Set once the client's first frame has been answered (the replay waits for it): when
        # the frame is handled, or for send_message when its echo (or error) is written.
        self.answered = asyncio.Event()
        # Messages written and not acked yet, oldest first: (loop time written, message id).
        self._written: deque[tuple[float, str]] = deque()
        self._acker: asyncio.Task[None] | None = None
        self._stopped = False

    # --- out: the session's frames, as the original protocol has them ---------------------------

    async def send(self, text: str) -> None:
        frame = json.loads(text)
        kind = frame.get("type")
        if kind == "deliver":
            deliver = Deliver.model_validate(frame)
            await _send(self.websocket, await self._new_message(deliver))
            self._written.append((asyncio.get_running_loop().time(), deliver.id))
            if self._acker is None and not self._stopped:
                self._acker = asyncio.create_task(self._ack_when_kept())
        elif kind == "receipt":
            echo = self._echo.pop(str(frame.get("re")), None)
            if echo is not None:
                await _send(self.websocket, echo)
                self.answered.set()
        elif kind == "error":
            self._echo.pop(str(frame.get("re")), None)
            await _send(self.websocket, {"type": "error", "error": frame.get("detail", "")})
            self.answered.set()

    async def close(self, code: int, reason: str) -> None:
        await self.websocket.close(code, reason)

    def stop(self) -> None:
        """The connection is over: what was written and not acked is left unacked."""
        self._stopped = True
        if self._acker is not None:
            self._acker.cancel()
        self._written.clear()

    async def _ack_when_kept(self) -> None:
        """Ack the messages written ACK_AFTER ago, while the connection is still open."""
        loop = asyncio.get_running_loop()
        try:
            while self._written:
                await asyncio.sleep(max(0.0, self._written[0][0] + ACK_AFTER - loop.time()))
                if self._stopped or self.websocket.state is not State.OPEN:
                    return  # closing: left unacked, replayed next time
                due, kept = loop.time() - ACK_AFTER, []
                while self._written and self._written[0][0] <= due:
                    kept.append(self._written.popleft()[1])
                if kept:
                    await self.clients.hub.ack(self.agent.id, kept)
        finally:
            self._acker = None

    async def _new_message(self, deliver: Deliver) -> dict[str, Any]:
        sender = await self.clients.ids.of_agent(deliver.sender)
        legacy = deliver.meta.get("legacy")
        legacy = legacy if isinstance(legacy, dict) else {}
        body = deliver.body
        return {
            "type": "new_message",
            "message_id": deliver.id,
            "sender_id": sender.number,
            "sender_name": deliver.sender,
            "sender_nickname": sender.nickname or None,
            "sender_project": sender.project or None,
            "sender_identity": original_identity(sender),
            "sender_expertise": "",
            "conversation_id": legacy.get("conversation_id", deliver.conversation),
            "message_type": legacy.get("message_type", "message"),
            "content": body if isinstance(body, str) else json.dumps(body),
            "metadata": legacy.get("metadata", deliver.meta),
            "timestamp": deliver.at.isoformat(),
        }

    # --- in: what the client says ---------------------------------------------------------------

    async def handle(self, data: str | bytes) -> None:
        try:
            frame = json.loads(data)
        except ValueError:
            await _send(self.websocket, {"type": "error", "error": "invalid JSON"})
            self.answered.set()
            return
        kind = frame.get("type") if isinstance(frame, dict) else None
        handler = {
            "send_message": self._send_message,
            "get_online_users": self._online_users,
            "heartbeat": self._heartbeat,
            "brain_save_state": self._save_state,
            "brain_load_state": self._load_state,
            "familio_follow_ai": self._follow,
        }.get(str(kind))
        if handler is None:
            await _send(
                self.websocket, {"type": "error", "error": f"unknown message type {kind!r}"}
            )
            self.answered.set()
            return
        await handler(frame)
        if kind != "send_message":  # that one is answered by its echo, when it is stored
            self.answered.set()

    async def _send_message(self, frame: dict[str, Any]) -> None:
        assert self.session is not None
        content = frame.get("content", "")
        given = frame.get("metadata")
        metadata: dict[str, Any] = given if isinstance(given, dict) else {}
        conversation = frame.get("conversation_id", 1)
        legacy = {
            "conversation_id": conversation,
            "message_type": str(frame.get("message_type", "message")),
            "metadata": {
                **metadata,
                "project": self.ai.project or None,
                "identity": original_identity(self.ai),
            },
        }
        message = Broadcast(
            id=new_id(),
            body=content if isinstance(content, str) else json.dumps(content),
            meta={"legacy": legacy},
            conversation=f"legacy-{conversation}"[:128],
        )
        self._echo[message.id] = {
            "type": "new_message",
            "message_id": message.id,
            "sender_id": self.ai.number,
            "sender_name": self.agent.name,
            "sender_nickname": self.ai.nickname or None,
            "sender_project": self.ai.project or None,
            "sender_identity": original_identity(self.ai),
            "sender_expertise": ", ".join(self.agent.skills),
            "conversation_id": conversation,
            "message_type": legacy["message_type"],
            "content": message.body,
            "metadata": legacy["metadata"],
            "timestamp": now(),
        }
        await self.clients.hub.handle(self.session, message)

    async def _online_users(self, frame: dict[str, Any]) -> None:
        users = []
        for profile in await self.clients.store.roster():
            if profile.online:
                ai = await self.clients.ids.of_agent(profile.name)
                users.append(
                    {
                        "id": ai.number,
                        "name": profile.name,
                        "nickname": ai.nickname or None,
                        "project": ai.project or None,
                        "identity": original_identity(ai),
                        "expertise": ", ".join(profile.skills),
                        "version": ai.version,
                    }
                )
        await _send(self.websocket, {"type": "online_users", "users": users, "timestamp": now()})

    async def _heartbeat(self, frame: dict[str, Any]) -> None:
        return None  # the original answers nothing; the connection stays alive

    async def _save_state(self, frame: dict[str, Any]) -> None:
        assert self.session is not None
        brains = self.clients.brains
        latest = await brains.load(self.agent.name)
        # A save updates the state: what it leaves out (everything but the task, from
        # cloudbrain-client 3.x) keeps what was saved or imported before.
        state = updated_state(latest.state if latest else None, state_from_save(frame))
        await brains.save(
            self.agent.name,
            state,
            latest.version if latest else None,
            device=DEVICE,
            session=self.session.id,
        )
        await _send(self.websocket, {"type": "brain_state_saved", "timestamp": now()})

    async def _load_state(self, frame: dict[str, Any]) -> None:
        latest = await self.clients.brains.load(self.agent.name)
        if latest is None:
            await _send(
                self.websocket,
                {"type": "brain_state_loaded", "state": None, "message": "No previous state found"},
            )
            return
        state = state_to_legacy(latest.state)
        await _send(
            self.websocket, {"type": "brain_state_loaded", "state": state, "timestamp": now()}
        )

    async def _follow(self, frame: dict[str, Any]) -> None:
        target = frame.get("target_ai_id")
        found = await self.clients.ids.by_number(target) if isinstance(target, int) else None
        if found is None:
            await _send(
                self.websocket, {"type": "familio_error", "error": "target_ai_id not found"}
            )
            return
        try:
            await self.clients.social.follow(self.agent.name, found.agent)
        except ProtocolError as refused:  # following oneself, say
            await _send(self.websocket, {"type": "familio_error", "error": refused.detail})
            return
        await _send(
            self.websocket,
            {"type": "familio_ai_followed", "target_ai_id": target, "timestamp": now()},
        )


async def _send(websocket: ServerConnection, frame: dict[str, Any]) -> None:
    await websocket.send(json.dumps(frame))


async def _refuse(websocket: ServerConnection, refused: Refused) -> None:
    """Say why, as the original protocol says an error, and close."""
    try:
        await _send(websocket, {"type": "error", "error": refused.error})
        await websocket.close(refused.close, "refused")
    except ConnectionClosed:
        pass
