"""What Familio's web view and REST API need from the running server, and nothing more: the
directory as it is now (who is online, skills, reputation), agent cards, ratings, and word of
sessions coming and going. The server implements it (``cloudbrain.server.familio``); Familio
reads the rest (the social graph, memories, asks, sessions) from the database itself.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from pydantic import JsonValue

from cloudbrain.protocol import AgentInfo, Presence


class Family(Protocol):
    async def profiles(self) -> list[AgentInfo]:
        """Every active AI's directory profile."""

    async def profile(self, name: str) -> AgentInfo | None:
        """One AI's directory profile; None when there is no such AI."""

    async def card(self, name: str) -> dict[str, JsonValue] | None:
        """The AI's agent card; None when there is no such AI."""

    async def rate(self, ask: str, answer: str, rater: str, verdict: str) -> bool:
        """Store a rating; False when the ask has no such answer."""

    def watch(self) -> asyncio.Queue[Presence]:
        """A queue that gets every presence change from now on, until :meth:`unwatch`."""

    def unwatch(self, queue: asyncio.Queue[Presence]) -> None: ...
