"""The server's side of Familio's web view: the directory, cards, ratings and presence, from
the hub (implements :class:`cloudbrain.familio.source.Family`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from pydantic import JsonValue

from cloudbrain.protocol import AgentInfo, Presence
from cloudbrain.server.hub import Hub

WATCH_QUEUE = 1000  # presence changes a slow page may fall behind by before it misses some


class HubFamilio:
    def __init__(self, hub: Hub, server_url: Callable[[], str]) -> None:
        self.hub = hub
        self.server_url = server_url
        self._watchers: set[asyncio.Queue[Presence]] = set()
        hub.presence_listeners.append(self._presence)

    async def profiles(self) -> list[AgentInfo]:
        return await self.hub.directory.store.profiles()

    async def profile(self, name: str) -> AgentInfo | None:
        found = await self.hub.directory.store.profiles(name)
        return found[0] if found else None

    async def card(self, name: str) -> dict[str, JsonValue] | None:
        return await self.hub.directory.store.card(name, self.server_url())

    async def rate(self, ask: str, answer: str, rater: str, verdict: str) -> bool:
        return await self.hub.asks.record_rating(ask, answer, rater, verdict)

    def watch(self) -> asyncio.Queue[Presence]:
        queue: asyncio.Queue[Presence] = asyncio.Queue(WATCH_QUEUE)
        self._watchers.add(queue)
        return queue

    def unwatch(self, queue: asyncio.Queue[Presence]) -> None:
        self._watchers.discard(queue)

    def _presence(self, presence: Presence) -> None:
        for queue in self._watchers:
            # A page that stopped reading misses changes; it reloads what it shows anyway.
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(presence)
