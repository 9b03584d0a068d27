"""The hub: who is connected, what each frame does, and where stored messages go next."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from cloudbrain.db.types import utcnow
from cloudbrain.envelope import Envelope, Stored, expiry
from cloudbrain.errors import CloseCode, ErrorCode, ProtocolError
from cloudbrain.protocol import (
    ANSWERS_CAPABILITY,
    ONE_SHOT_CAPABILITY,
    PRESENCE_CAPABILITY,
    Ack,
    Broadcast,
    ClientFrame,
    DeliveryStatus,
    DeviceProfile,
    Error,
    MessageFrame,
    Ok,
    Ping,
    Pong,
    Presence,
    Publish,
    Send,
    ServerFrame,
    Status,
    Subscribe,
    Unsubscribe,
)
from cloudbrain.server.ask import AskService
from cloudbrain.server.brain import BrainService
from cloudbrain.server.cluster import Cluster
from cloudbrain.server.delivery import Hand, Keep, Respond, Tell, after_commit
from cloudbrain.server.directory import DirectoryService
from cloudbrain.server.handlers import Handlers, refusal
from cloudbrain.server.memory import MemoryService
from cloudbrain.server.metrics import Metrics
from cloudbrain.server.outbox import OutboxBudget
from cloudbrain.server.session import LiveSession, Peer, Transport
from cloudbrain.server.social import SocialService
from cloudbrain.server.spool import Spool
from cloudbrain.server.writer import AckItem, BatchWriter, Outgoing
from cloudbrain.storage.agents import AgentRecord
from cloudbrain.storage.messages import MessageStore

log = logging.getLogger(__name__)

# Replay reads stored messages a page at a time, and a whole page is in memory at once: with
# messages of up to a MiB, 500 of them would be 500 MiB for one reconnecting session. So the
# first page is small, and pages grow while they stay light and shrink when they are heavy.
REPLAY_PAGE = 500
REPLAY_FIRST_PAGE = 16
REPLAY_PAGE_BYTES = 4 * 1024 * 1024


def next_replay_page(size: int, page_bytes: int) -> int:
    """How many messages to read next, after a page of ``size`` that took ``page_bytes``."""
    if page_bytes > REPLAY_PAGE_BYTES:
        return max(1, size * REPLAY_PAGE_BYTES // page_bytes)
    return min(REPLAY_PAGE, size * 2)


REVOCATION_OVERLAP = timedelta(seconds=5)
FAILED = "the server failed on this frame; it was not processed"


# Why a message was not stored, by the code its sender is told.
_NOT_STORED = {
    ErrorCode.UNAVAILABLE: "the message could not be stored and was not accepted; send it "
    "again later",
    ErrorCode.INVALID_FRAME: "the database cannot store what this message holds; it was not "
    "accepted, and sending it again will not help",
}


class Hub:
    def __init__(
        self,
        store: MessageStore,
        memory: MemoryService,
        brain: BrainService,
        directory: DirectoryService,
        asks: AskService,
        social: SocialService,
        spool: Spool | None = None,
        *,
        node: str,
        outboxes: OutboxBudget[LiveSession],
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics = metrics or Metrics(node)
        self.node = node
        # The outbox budget of this node, shared by every session made for this hub.
        self.outboxes = outboxes
        self.memory = memory
        self.brain = brain
        self.directory = directory
        self.asks = asks
        self.social = social
        self.spool = spool
        # Told of every session that comes or goes (the web view's live family page).
        self.presence_listeners: list[Callable[[Presence], None]] = []
        self._by_id: dict[str, LiveSession] = {}
        self._watching: set[LiveSession] = set()  # sessions that asked for presence events
        self.stopping = False  # the server is shutting down: it ends every session at once
        self.cluster: Cluster | None = None  # set when this node is one of several
        on_acked = None if spool is None else self._acked
        self.writer = BatchWriter(
            store, self._stored, self._store_failed, on_acked, metrics=metrics
        )
        metrics.count_sessions(lambda: len(self._by_id))
        self._sessions: dict[str, set[LiveSession]] = defaultdict(set)
        self._agent_ids: dict[str, str] = {}  # name -> id, for active agents seen lately
        # Who handles each kind of frame: the services' handlers, then the hub's own.
        self._handlers: Handlers = {
            **memory.handlers(),
            **brain.handlers(),
            **directory.handlers(),
            **asks.handlers(),
            **social.handlers(),
            **self._own_handlers(),
        }

    # --- sessions ---------------------------------------------------------------------------

    def sessions(self) -> list[LiveSession]:
        return [s for group in self._sessions.values() for s in group]

    def sessions_of(self, agent_id: str) -> set[LiveSession]:
        """The agent's sessions on this node."""
        return self._sessions.get(agent_id, set())

    def local_agents(self) -> set[str]:
        """Ids of the agents with a session on this node."""
        return set(self._sessions)

    def session(self, session_id: str) -> LiveSession | None:
        return self._by_id.get(session_id)

    async def open_session(
        self,
        agent: AgentRecord,
        transport: Transport,
        *,
        device: str,
        client: str,
        capabilities: Sequence[str] = (),
        skills: Sequence[str] = (),
        profile: DeviceProfile | None = None,
    ) -> LiveSession:
        """Record a new session of ``agent`` on this node and make it, writing to
        ``transport`` (reachable once :meth:`register` is called). ``skills`` are added to the
        agent's declared skills."""
        session_id = await self.store.open_session(
            agent.id,
            node=self.node,
            device=device,
            client=client,
            capabilities=list(capabilities),
            skills=skills,
        )
        return LiveSession(
            agent, session_id, device, list(capabilities), transport, self.outboxes, profile
        )

    async def end_session(self, session: LiveSession, reason: str) -> None:
        """The session is over: unreachable, stopped, and recorded as ended with ``reason``
        (when the server stops, it ends all its sessions in one go instead)."""
        self.unregister(session)
        await session.stop()
        if not self.stopping:
            await self.store.close_session(session.id, reason)

    async def ack(self, agent_id: str, message_ids: Sequence[str]) -> None:
        """``agent_id`` has the messages: they are not delivered to it again."""
        await self.writer.submit(AckItem(agent_id, message_ids))

    def register(self, session: LiveSession) -> None:
        """Make the session reachable. It starts in replay mode: see :meth:`replay`."""
        self._sessions[session.agent.id].add(session)
        self._by_id[session.id] = session
        if PRESENCE_CAPABILITY in session.capabilities:
            self._watching.add(session)
        self._agent_ids[session.agent.name] = session.agent.id
        if ONE_SHOT_CAPABILITY not in session.capabilities:
            self._announce(session, online=True)

    def unregister(self, session: LiveSession) -> None:
        self.asks.cancel_for(session)
        group = self._sessions.get(session.agent.id)
        if group is not None:
            group.discard(session)
            if not group:
                del self._sessions[session.agent.id]
        self._watching.discard(session)
        registered = self._by_id.pop(session.id, None) is not None
        if registered and ONE_SHOT_CAPABILITY not in session.capabilities:
            self._announce(session, online=False)

    def answering_session(self, name: str) -> Peer | None:
        """The newest session of agent ``name`` that takes questions, if it has one: on this
        node, or else on another node of the cluster."""
        agent_id = self._agent_ids.get(name)
        found = [
            s
            for s in self._sessions.get(agent_id or "", ())
            if ANSWERS_CAPABILITY in s.capabilities and not s.closing
        ]
        if found:
            return found[-1]
        return self.cluster.answering(name) if self.cluster is not None else None

    async def replay(self, session: LiveSession) -> int:
        """Send the session every stored message its agent has not acked, oldest first (a
        one-shot command gets none: they wait for the agent itself)."""
        if ONE_SHOT_CAPABILITY in session.capabilities:
            session.finish_replay()
            return 0
        count, after, size = 0, 0, REPLAY_FIRST_PAGE
        while True:
            page = await self.store.pending(session.agent.id, after_seq=after, limit=size)
            page_bytes = 0
            for pending in page:
                text = pending.envelope.deliver_frame().to_json()
                page_bytes += len(text)
                await session.send_replayed(pending.envelope.id, text)
                after = pending.seq
            count += len(page)
            self.metrics.delivered.labels(path="replay").inc(len(page))
            if not session.writable:
                return count  # closed meanwhile: the next connection replays the rest
            if len(page) < size and session.finish_replay():
                return count
            size = next_replay_page(size, page_bytes)

    async def replay_or_close(self, session: LiveSession) -> None:
        """:meth:`replay`, closing the session when it fails: live messages are held back
        until the replay ends, so a session whose replay failed must not stay open. Its
        client reconnects and the replay starts over."""
        try:
            count = await self.replay(session)
        except Exception:
            log.exception("%r: replay failed; closing so the client reconnects", session)
            session.close(CloseCode.TRY_AGAIN_LATER, "replay failed; reconnect")
        else:
            if count:
                log.info("%r: replayed %d stored message(s)", session, count)

    def revoke(self, agent_id: str) -> int:
        """Close every connection of a revoked agent. Returns how many were closed."""
        self._agent_ids = {n: i for n, i in self._agent_ids.items() if i != agent_id}
        closed = 0
        for session in list(self._sessions.get(agent_id, ())):
            session.send(Error(code=ErrorCode.REVOKED, detail="this agent was revoked").to_json())
            session.close(CloseCode.REVOKED, ErrorCode.REVOKED)
            closed += 1
        return closed

    def _announce(self, session: LiveSession, *, online: bool) -> None:
        presence = Presence(
            agent=session.agent.name,
            session=session.id,
            device=session.device,
            online=online,
            at=utcnow(),
        )
        if self.cluster is not None:
            self.cluster.announce(session, presence)
        self.tell_presence(presence, besides=session)

    def tell_presence(self, presence: Presence, besides: LiveSession | None = None) -> None:
        """Tell the listeners and the sessions that watch presence (a session of this node or
        of another came or went)."""
        for listener in self.presence_listeners:
            listener(presence)
        if not self._watching:
            return
        text = presence.to_json()
        for other in self._watching:
            if other is not besides:
                other.send(text)

    # --- frames -----------------------------------------------------------------------------

    async def handle(self, session: LiveSession, frame: ClientFrame) -> None:
        """Act on one accepted frame from ``session`` and send its reply, or the error frame
        when its handler refused it (see :mod:`handlers`) or failed (a bug: the session and
        the server go on)."""
        handler = self._handlers.get(type(frame))
        if handler is None:  # hello never gets here: the connection protocol refuses a second one
            raise AssertionError(f"unexpected frame {frame.type!r}")
        reply: ServerFrame | None
        try:
            reply = await handler(session, frame)
        except ProtocolError as refused:
            reply = refusal(frame, refused)
        except Exception:
            log.exception("%r: handling a %r frame failed", session, frame.type)
            reply = refusal(frame, ProtocolError(ErrorCode.INTERNAL, FAILED))
        if isinstance(reply, Error):
            self.metrics.error(reply.code)
        if reply is not None:
            session.send(reply.to_json())

    def _own_handlers(self) -> Handlers:
        return {
            Send: self._accept_message,
            Publish: self._accept_message,
            Broadcast: self._accept_message,
            Ack: self._ack,
            Subscribe: self._subscribe,
            Unsubscribe: self._unsubscribe,
            Status: self._status,
            Ping: self._ping,
        }

    async def _ack(self, session: LiveSession, frame: Ack) -> None:
        await self.ack(session.agent.id, frame.ids)

    async def _subscribe(self, session: LiveSession, frame: Subscribe) -> Ok:
        await self.store.subscribe(session.agent.id, frame.topic)
        return Ok(re=frame.id)

    async def _unsubscribe(self, session: LiveSession, frame: Unsubscribe) -> Ok:
        await self.store.unsubscribe(session.agent.id, frame.topic)
        return Ok(re=frame.id)

    async def _ping(self, session: LiveSession, frame: Ping) -> Pong:
        return Pong(re=frame.id)

    async def _accept_message(self, session: LiveSession, frame: MessageFrame) -> None:
        """Store the message; its receipt is sent once it is committed (see :meth:`_stored`)."""
        to_id = to_name = topic = None
        if isinstance(frame, Send):
            to_id = await self.resolve(frame.to)
            if to_id is None:
                log.info("%r sent to unknown agent %r", session, frame.to)
                raise ProtocolError(ErrorCode.UNKNOWN_RECIPIENT, f"no agent named {frame.to!r}")
            to_name = frame.to
        elif isinstance(frame, Publish):
            topic = frame.topic
        now = utcnow()
        envelope = Envelope(
            id=frame.id,
            kind="direct" if isinstance(frame, Send) else "topic" if topic else "broadcast",
            sender_id=session.agent.id,
            sender_name=session.agent.name,
            session_id=session.id,
            device=session.device,
            body=frame.body,
            meta=frame.meta,
            created_at=now,
            to_id=to_id,
            to_name=to_name,
            topic=topic,
            conversation=frame.conversation,
            reply_to=frame.reply_to,
            expires_at=expiry(now, frame.ttl),
        )
        await self.writer.submit(Outgoing(envelope, session))

    async def resolve(self, name: str) -> str | None:
        """The id of the active agent called ``name``, if there is one (remembered once found;
        forgotten when the agent is revoked)."""
        agent_id = self._agent_ids.get(name)
        if agent_id is None:
            agent_id = await self.store.find_active_agent(name)
            if agent_id is not None:
                self._agent_ids[name] = agent_id
        return agent_id

    async def _status(self, session: LiveSession, frame: Status) -> DeliveryStatus:
        found = await self.store.status(frame.msg, session.agent.id)
        if found is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no message of yours has that id")
        expires_at, states = found
        return DeliveryStatus(re=frame.id, msg=frame.msg, expires_at=expires_at, recipients=states)

    # --- after the database ------------------------------------------------------------------

    def _stored(self, results: list[tuple[Outgoing, Stored]]) -> None:
        """Called once a batch is committed: carry out what :func:`after_commit` decides."""
        senders = [(outgoing.origin, stored) for outgoing, stored in results]
        handed = 0  # counted once per batch: a labelled counter takes a lock per inc
        for effect in after_commit(senders, self.sessions_of):
            match effect:
                case Respond(to=sender, frame=frame):
                    if isinstance(frame, Error):
                        self.metrics.error(frame.code)
                    sender.send(frame.to_json())
                case Hand(to=session, message_id=message_id, text=text):
                    handed += 1
                    session.deliver(message_id, text)
                case Keep(envelope=envelope, recipient_ids=away) if self.spool is not None:
                    self.spool.keep(envelope, away)
                case Tell(stored=crossing) if self.cluster is not None:
                    self.cluster.stored(crossing)
        self.metrics.delivered.labels(path="live").inc(handed)

    def _acked(self, acks: list[AckItem]) -> None:
        assert self.spool is not None
        for item in acks:
            self.spool.acked(item.recipient_id, list(item.message_ids))

    def _store_failed(self, outgoing: list[Outgoing], code: ErrorCode) -> None:
        detail = _NOT_STORED[code]
        for item in outgoing:
            self.metrics.error(code)
            item.origin.send(Error(re=item.envelope.id, code=code, detail=detail).to_json())

    async def expire(self) -> None:
        expired = await self.store.expire_due()
        if expired:
            log.info(
                "%d undelivered message copies passed their TTL and are marked expired", expired
            )

    async def check_revocations(self, since: datetime) -> datetime:
        """Close connections of agents revoked since ``since``; returns the next ``since``.

        The next window overlaps this one a little: a revocation stamped by another process's
        clock just before this look, but committed just after, is still seen next time.
        """
        checked = utcnow() - REVOCATION_OVERLAP
        for agent_id, _when in await self.store.revoked_since(since):
            closed = self.revoke(agent_id)
            if closed:
                log.info("agent %s was revoked; closed %d connection(s)", agent_id, closed)
        return checked
