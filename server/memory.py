"""The memory requests: agents store what they learned and recall what anyone learned.

Every agent may read the family's memories (sharing knowledge is the point); an agent may only
store its own. Embeddings are computed here, with the server's embedder, so that every stored
vector lives in the one space recall compares in.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable

from cloudbrain.errors import ErrorCode, ProtocolError
from cloudbrain.ids import UnknownId, is_uuid, match_id
from cloudbrain.memory.store import MemoryStore, RecallFilter
from cloudbrain.protocol import (
    Memories,
    MemoryPage,
    Recall,
    RecallResult,
    Recollection,
    Remember,
    Remembered,
)
from cloudbrain.server.handlers import Handlers, require_ai
from cloudbrain.server.metrics import Metrics
from cloudbrain.server.session import LiveSession

# A part of a session id as people copy it from a list: hex digits and dashes, four at least.
_PART_OF_AN_ID = re.compile(r"[0-9a-fA-F-]{4,36}")

# session ids -> the ids of the agents they belong to (those that are sessions of this server).
SessionAgents = Callable[[Iterable[str]], Awaitable[dict[str, str]]]


class MemoryService:
    def __init__(
        self, store: MemoryStore, session_agents: SessionAgents, metrics: Metrics | None = None
    ) -> None:
        self.store = store
        self.session_agents = session_agents
        self.metrics = metrics or Metrics()

    def handlers(self) -> Handlers:
        return {Remember: self.remember, Recall: self.recall, Memories: self.page}

    async def remember(self, session: LiveSession, frame: Remember) -> Remembered:
        refusal = await self._not_yours(session, frame)
        if refusal:
            raise ProtocolError(ErrorCode.FORBIDDEN, refusal)
        records = [
            m.model_copy(update={"embedding": None, "embedder": None}) for m in frame.memories
        ]
        added = await self.store.add(records)
        return Remembered(re=frame.id, stored=added.stored, duplicates=added.duplicates)

    async def _session_named(self, given: str | None, ai: str | None) -> str | None:
        """The session ``given`` names: itself, or the one stored session whose id starts or
        ends with it (the short id lists show); ``not_found`` when it names none or several."""
        if not given or not _PART_OF_AN_ID.fullmatch(given) or is_uuid(given):
            return given
        found = await self.store.sessions_like(given, ai)
        if given in found:
            return given
        try:
            return match_id(given, found, "session")
        except UnknownId as unknown:
            raise ProtocolError(ErrorCode.NOT_FOUND, str(unknown)) from None

    async def _not_yours(self, session: LiveSession, frame: Remember) -> str | None:
        """Why these memories are not the sender's to store, or None."""
        strangers = sorted({m.ai for m in frame.memories} - {session.agent.name})
        if strangers:
            return f"an agent stores only its own memories; these belong to {strangers}"
        # A memory's session is the client's label, often a session it had here: one that is
        # another agent's session would show on that session's page as made there.
        owners = await self.session_agents({m.session for m in frame.memories if m.session})
        taken = sorted(s for s, agent_id in owners.items() if agent_id != session.agent.id)
        if taken:
            return f"sessions {taken} are another agent's; store memories under your own"
        return None

    async def recall(self, session: LiveSession, frame: Recall) -> Recollection:
        where = RecallFilter(
            ai=frame.ai,
            session=await self._session_named(frame.session, frame.ai),
            device=frame.device,
            kind=frame.kind,
            conversation=frame.conversation,
            since=frame.since,
            until=frame.until,
            include_superseded=frame.include_superseded,
        )
        with self.metrics.timing(self.metrics.recall_seconds):
            found = await self.store.search(frame.query, where, frame.limit)
        results = [
            RecallResult(
                memory=r.memory.model_copy(update={"embedding": None}), score=r.score, why=r.why
            )
            for r in found
        ]
        return Recollection(re=frame.id, results=results)

    async def page(self, session: LiveSession, frame: Memories) -> MemoryPage:
        where = RecallFilter(
            ai=frame.ai, since=frame.since, until=frame.until, include_superseded=True
        )
        records, after = await self.store.page(frame.after, frame.limit, where)
        if not records and frame.ai:
            await require_ai(self.store.engine, frame.ai)
        return MemoryPage(
            re=frame.id,
            memories=[r.model_copy(update={"embedding": None}) for r in records],
            next=after,
        )
