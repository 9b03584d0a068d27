"""Brain states on the server: agents save, load and list the versions of a brain state
(stored by :class:`cloudbrain.storage.brains.BrainStore`).

Every agent may read any agent's state (the family is open with itself); each saves its own.
"""

from __future__ import annotations

from cloudbrain.brainstate import BrainState
from cloudbrain.protocol import (
    BrainHistory,
    BrainLoad,
    BrainSave,
    BrainSaved,
    BrainSnapshot,
    BrainVersions,
)
from cloudbrain.server.handlers import Handlers, require_ai
from cloudbrain.server.session import LiveSession
from cloudbrain.storage.brains import BrainStore


class BrainService:
    def __init__(self, store: BrainStore) -> None:
        self.store = store

    def handlers(self) -> Handlers:
        return {BrainSave: self.save, BrainLoad: self.load, BrainHistory: self.history}

    async def save(self, session: LiveSession, frame: BrainSave) -> BrainSaved:
        saved = await self.store.save(
            session.agent.name, frame.state, frame.base, device=session.device, session=session.id
        )
        return BrainSaved(
            re=frame.id, version=saved.version, merged=saved.merged, state=saved.state
        )

    async def load(self, session: LiveSession, frame: BrainLoad) -> BrainSnapshot:
        ai = frame.ai or session.agent.name
        found = await self.store.load(ai, frame.version)
        if found is None:
            await require_ai(self.store.engine, ai)
            return BrainSnapshot(re=frame.id, ai=ai, version=None, state=BrainState())
        return BrainSnapshot(
            re=frame.id,
            ai=ai,
            version=found.version,
            state=found.state,
            device=found.device,
            session=found.session,
            saved_at=found.saved_at,
        )

    async def history(self, session: LiveSession, frame: BrainHistory) -> BrainVersions:
        ai = frame.ai or session.agent.name
        versions = await self.store.history(ai, frame.limit)
        if not versions:
            await require_ai(self.store.engine, ai)
        return BrainVersions(re=frame.id, ai=ai, versions=versions)
