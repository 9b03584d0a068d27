"""Keeping an agent's brain state: loaded at start, saved soon after every change and at the
end, kept on the server as versions and on the device as a copy for when the server is away.

Saves are debounced: a burst of changes costs one save. Each save says which version it grew
from; if another session of the same AI saved in between, the server merges the two and this
manager continues from the merged state it gets back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path

from cloudbrain.agent.client import Client
from cloudbrain.brainstate import BrainState
from cloudbrain.files import write_atomically

log = logging.getLogger(__name__)


class BrainStateManager:
    def __init__(self, client: Client, folder: Path, debounce: float = 1.0) -> None:
        self.client = client
        self.state = BrainState()
        self.version: int | None = None  # the server version self.state grew from
        self._copy = folder / "brain.json"
        self._debounce = debounce
        self._pending: asyncio.Task[None] | None = None

    async def load(self) -> None:
        """The newest state on the server; this device's copy if the server cannot say."""
        try:
            snapshot = await self.client.load_brain()
            self.state, self.version = snapshot.state, snapshot.version
            self._write_copy()
        except Exception as exc:
            log.warning(
                "brain state not loaded from the server (%s); using this device's copy", exc
            )
            self._read_copy()

    def changed(self) -> None:
        """Note a change; a save follows shortly, once per burst of changes."""
        self._write_copy()
        if self._pending is None or self._pending.done():
            self._pending = asyncio.create_task(self._save_later())

    async def save(self) -> None:
        saved = await self.client.save_brain(self.state, self.version)
        if saved.merged:
            log.info(
                "brain state merged with a save from another session (now version %d)",
                saved.version,
            )
        self.state, self.version = saved.state, saved.version
        self._write_copy()

    async def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pending
        try:
            await self.save()
        except Exception as exc:
            log.warning("brain state kept on this device only (%s); it is saved next time", exc)

    async def _save_later(self) -> None:
        await asyncio.sleep(self._debounce)
        try:
            await self.save()
        except Exception as exc:  # offline: the copy on disk keeps it until the next save
            log.info("brain state save postponed: %s", exc)

    def _write_copy(self) -> None:
        copy = {"version": self.version, "state": self.state.model_dump(mode="json")}
        write_atomically(self._copy, json.dumps(copy))

    def _read_copy(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            data = json.loads(self._copy.read_text())
            self.state, self.version = BrainState.model_validate(data["state"]), data["version"]
