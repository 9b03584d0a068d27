"""Brain states as the database keeps them: every save is a new version; a save built on an
old version is merged with what was saved since (see :func:`cloudbrain.brainstate.merge`), in
the same transaction, never lost."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cloudbrain.brainstate import BrainState, merge
from cloudbrain.db.engine import write_transaction
from cloudbrain.db.models import brain_states
from cloudbrain.db.types import utcnow
from cloudbrain.protocol import BrainVersion

SAVE_ATTEMPTS = 5  # concurrent saves race for the next version number; the loser retries


@dataclass(frozen=True)
class StoredBrain:
    """One saved version of an AI's brain state, and where it was saved from."""

    version: int
    state: BrainState
    device: str
    session: str
    saved_at: datetime


@dataclass(frozen=True)
class Saved:
    version: int
    merged: bool
    state: BrainState


class BrainStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def save(
        self, ai: str, state: BrainState, base: int | None, *, device: str, session: str
    ) -> Saved:
        for attempt in range(SAVE_ATTEMPTS):
            try:
                async with write_transaction(self.engine) as conn:
                    return await self._save(conn, ai, state, base, device, session)
            except IntegrityError:
                if attempt == SAVE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def _save(
        self,
        conn: AsyncConnection,
        ai: str,
        state: BrainState,
        base: int | None,
        device: str,
        session: str,
    ) -> Saved:
        latest = (
            await conn.execute(
                select(brain_states.c.version, brain_states.c.state)
                .where(brain_states.c.ai == ai)
                .order_by(brain_states.c.version.desc())
                .limit(1)
            )
        ).first()
        merged = False
        if latest is not None and base != latest.version:
            # Someone saved after the version this state grew from: combine, do not replace.
            base_state = await self._state(conn, ai, base) if base else BrainState()
            state = merge(
                base_state or BrainState(), BrainState.model_validate(latest.state), state
            )
            merged = True
        version = latest.version + 1 if latest is not None else 1
        await conn.execute(
            brain_states.insert().values(
                ai=ai,
                version=version,
                base=base,
                merged=merged,
                device=device,
                session=session,
                state=state.model_dump(mode="json"),
                saved_at=utcnow(),
            )
        )
        return Saved(version, merged, state)

    @staticmethod
    async def _state(conn: AsyncConnection, ai: str, version: int) -> BrainState | None:
        row = await conn.scalar(
            select(brain_states.c.state).where(
                brain_states.c.ai == ai, brain_states.c.version == version
            )
        )
        return BrainState.model_validate(row) if row is not None else None

    async def load(self, ai: str, version: int | None = None) -> StoredBrain | None:
        """The AI's state as saved in ``version``, or its newest; None if it has none."""
        query = select(brain_states).where(brain_states.c.ai == ai)
        query = (
            query.where(brain_states.c.version == version)
            if version
            else query.order_by(brain_states.c.version.desc()).limit(1)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        return StoredBrain(
            row["version"],
            BrainState.model_validate(row["state"]),
            row["device"],
            row["session"],
            row["saved_at"],
        )

    async def history(self, ai: str, limit: int) -> list[BrainVersion]:
        async with self.engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        select(brain_states)
                        .where(brain_states.c.ai == ai)
                        .order_by(brain_states.c.version.desc())
                        .limit(limit)
                    )
                )
                .mappings()
                .all()
            )
        return [
            BrainVersion(
                version=r["version"],
                base=r["base"],
                merged=r["merged"],
                device=r["device"],
                session=r["session"],
                saved_at=r["saved_at"],
                counters=r["state"].get("counters", {}),
            )
            for r in rows
        ]
