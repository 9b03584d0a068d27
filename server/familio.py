"""The server's side of Familio's web view: the directory, cards, ratings and presence
(implements :class:`cloudbrain.familio.source.Family`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from pydantic import JsonValue

from cloudbrain.protocol import AgentInfo, Presence
from cloudbrain.server.ask import AskService
from cloudbrain.server.directory import DirectoryStore

WATCH_QUEUE = 1000  # presence changes a slow page may fall behind by before it misses some


class HubFamilio:
    def __init__(
        self, directory: DirectoryStore, asks: AskService, server_url: Callable[[], str]
    ) -> None:
        self.directory = directory
        self.asks = asks
        self.server_url = server_url
        self._watchers: set[asyncio.Queue[Presence]] = set()

    async def profiles(self) -> list[AgentInfo]:
        return await self.directory.profiles()

    async def profile(self, name: str) -> AgentInfo | None:
        found = await self.directory.profiles(name)
        return found[0] if found else None

    async def card(self, name: str) -> dict[str, JsonValue] | None:
        return await self.directory.card(name, self.server_url())

    async def rate(self, ask: str, answer: str, rater: str, verdict: str) -> bool:
        return await self.asks.record_rating(ask, answer, rater, verdict)

    def watch(self) -> asyncio.Queue[Presence]:
        queue: asyncio.Queue[Presence] = asyncio.Queue(WATCH_QUEUE)
        self._watchers.add(queue)
        return queue

    def unwatch(self, queue: asyncio.Queue[Presence]) -> None:
        self._watchers.discard(queue)

    def presence(self, presence: Presence) -> None:
        """An AI's session came or went (the hub tells every presence listener)."""
        for queue in self._watchers:
            # A page that stopped reading misses changes; it reloads what it shows anyway.
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(presence)
