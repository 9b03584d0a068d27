"""The specialists of ``bench.ask``: real agent runtimes with the recall brain, all in one
process of their own, driven by the benchmark over a pipe.

Each specialist is an ``AgentRuntime`` with a ``RecallBrain``, its own device folder (a local
memory file it syncs with the server when it starts, and every 10 seconds while it runs,
embedded by the embedder the benchmark names, the server's: the process loads that model once
for all of them), and its own WebSocket connection that takes questions. The process counts how
long each answer took, from taking the question off the agent's queue to the server's ok for
the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from cloudbrain.agent.brains import RecallBrain
from cloudbrain.agent.brains.base import Answer
from cloudbrain.agent.cache import LocalMemory
from cloudbrain.agent.runtime import AgentConfig, AgentRuntime
from cloudbrain.db.models import memories
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.protocol import Question

START_BATCH = 10  # agents connecting and syncing at the same time
CONNECT_SECONDS = 60.0
STOP_SECONDS = 20.0


@dataclass(frozen=True)
class Member:
    name: str
    token: str
    skills: tuple[str, ...]


async def prepare_devices(
    folder: Path, owned: dict[str, list[MemoryRecord]], embedder: str
) -> None:
    """Each specialist's device folder holding its memories, as a finished first sync leaves
    it (``owned``: name -> its memories, with their vectors from ``embedder``, kept as they
    are); see :func:`synced_up_to`."""
    for name, records in owned.items():
        local = LocalMemory(folder / name, embedder)
        store = await local.open()
        try:
            for i in range(0, len(records), 1000):
                await store.add(records[i : i + 1000])
            async with store.engine.connect() as conn:
                pushed = int(await conn.scalar(select(func.max(memories.c.seq))) or 0)
        finally:
            await local.close()
        cursors = local.cursors()
        cursors.pushed = pushed
        local.save_cursors(cursors)


def synced_up_to(folder: Path, positions: dict[str, int]) -> None:
    """Tell each device (name -> position) it has every memory of its AI on the server up to
    that position, in that server's database: the position of the AI's newest memory there,
    where a finished sync leaves it (so later syncs ask from there, as they would)."""
    for name, position in positions.items():
        local = LocalMemory(folder / name)
        cursors = local.cursors()
        cursors.pulled = position
        local.save_cursors(cursors)


class TimedRuntime(AgentRuntime):
    """An agent runtime that notes how long each answer to an ask took, in seconds."""

    def __init__(self, config: AgentConfig, spent: list[float]) -> None:
        super().__init__(config, RecallBrain())
        self.spent = spent

    async def answer_question(self, question: Question) -> Answer:
        started = time.perf_counter()
        try:
            return await super().answer_question(question)
        finally:
            self.spent.append(time.perf_counter() - started)


class Specialists:
    """The runtimes of this process, each in a task, stopped the way SIGTERM stops one."""

    def __init__(self, url: str, folder: Path, embedder: str) -> None:
        self.url, self.folder, self.embedder = url, folder, embedder
        self.spent: list[float] = []
        self.runtimes: dict[str, TimedRuntime] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.stop = asyncio.Event()

    async def start(self, members: list[Member]) -> float:
        """Start those not running yet, a batch at a time; return once each is connected and
        has synced its memories from the server. Returns the seconds that took."""
        started = time.perf_counter()
        new = [m for m in members if m.name not in self.runtimes]
        for i in range(0, len(new), START_BATCH):
            batch = new[i : i + START_BATCH]
            for member in batch:
                config = AgentConfig(
                    member.name,
                    member.token,
                    self.url,
                    f"{member.name}-laptop",
                    self.folder / member.name,
                    skills=member.skills,
                    embedder=self.embedder,
                )
                runtime = self.runtimes[member.name] = TimedRuntime(config, self.spent)
                self.tasks[member.name] = asyncio.create_task(runtime.run(self.stop))
            await asyncio.gather(*(self._ready(m.name) for m in batch))
        return time.perf_counter() - started

    async def _ready(self, name: str) -> None:
        runtime, task = self.runtimes[name], self.tasks[name]
        deadline = time.monotonic() + CONNECT_SECONDS
        while not (runtime.client.connected and runtime.local.store is not None):
            if task.done():
                task.result()  # raises what stopped it
                raise RuntimeError(f"{name} stopped before it connected")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not connect within {CONNECT_SECONDS:g}s")
            await asyncio.sleep(0.05)
        await runtime.sync_now()  # waits for the first sync, which holds the same lock

    async def close(self) -> None:
        self.stop.set()
        if self.tasks:
            await asyncio.wait(self.tasks.values(), timeout=STOP_SECONDS)


def serve(url: str, folder: str, embedder: str, conn: Connection) -> None:
    """The agents process: commands come in over ``conn`` (see :class:`AgentsProcess`)."""
    asyncio.run(_serve(url, Path(folder), embedder, conn))


async def _serve(url: str, folder: Path, embedder: str, conn: Connection) -> None:
    specialists = Specialists(url, folder, embedder)
    try:
        while True:
            command, argument = await asyncio.to_thread(conn.recv)
            if command == "start":
                try:
                    seconds = await specialists.start(argument)
                except Exception as exc:
                    conn.send(("error", f"{type(exc).__name__}: {exc}"))
                    continue
                conn.send(("started", seconds))
            elif command == "spent":  # answer times since the last call
                conn.send(("spent", list(specialists.spent)))
                specialists.spent.clear()
            elif command == "stop":
                break
    finally:
        await specialists.close()
        with contextlib.suppress(OSError):
            conn.send(("stopped", None))


class AgentsProcess:
    """The specialists' process, from the benchmark's side."""

    def __init__(self, url: str, folder: Path, embedder: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(
            target=serve,
            args=(url, str(folder), embedder, child),
            name="specialists",
            daemon=True,
        )
        self.process.start()
        child.close()

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    async def start(self, members: list[Member], timeout: float) -> float:
        """Have ``members`` running (those not running yet are started); the seconds it took."""
        self._conn.send(("start", members))
        kind, value = await self._reply(timeout)
        if kind != "started":
            raise RuntimeError(f"the specialists did not start: {value}")
        return float(value)

    async def spent(self) -> list[float]:
        """Seconds each answer took since the last call."""
        self._conn.send(("spent", None))
        kind, value = await self._reply(10)
        assert kind == "spent", kind
        return [float(v) for v in value]

    async def _reply(self, timeout: float) -> tuple[str, Any]:
        def receive() -> tuple[str, Any]:
            if not self._conn.poll(timeout):
                raise TimeoutError(f"no word from the specialists' process in {timeout:g}s")
            kind, value = self._conn.recv()
            return str(kind), value

        return await asyncio.to_thread(receive)

    def close(self) -> None:
        """Stop every runtime (they close their sessions) and the process; blocks."""
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self._conn.send(("stop", None))
            self.process.join(STOP_SECONDS + 10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        self._conn.close()
