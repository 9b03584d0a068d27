"""An autonomous agent: it connects, answers what it is asked, and learns from every exchange.

Everything it learns goes to its device-local memory first, so it keeps learning while the
server is away, and is synced both ways whenever it is connected: a later session on another
device starts out knowing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import JsonValue

from cloudbrain.agent.brains.base import Answer, Brain
from cloudbrain.agent.cache import LocalMemory
from cloudbrain.agent.client import Client
from cloudbrain.agent.learning import Learned, facts_of_message, learn_facts
from cloudbrain.agent.message import Message
from cloudbrain.agent.replies import model_wrote, reply_text
from cloudbrain.agent.state import BrainStateManager
from cloudbrain.agent.sync import sync
from cloudbrain.brainstate import MAX_TURNS, BrainState, Conversation, Performance
from cloudbrain.files import write_atomically
from cloudbrain.memory.embedding import DEFAULT_SPEC
from cloudbrain.memory.facts import Fact, Judged, asks_anything, extract_facts, is_knowledge
from cloudbrain.memory.ranking import closest_together
from cloudbrain.memory.records import Kind, MemoryRecord
from cloudbrain.memory.store import RecallFilter
from cloudbrain.protocol import ANSWERS_CAPABILITY, DeviceProfile, Question
from cloudbrain.tls import Trust

log = logging.getLogger(__name__)

STUCK_AFTER = 12.0  # seconds after a stop request at which what still runs is logged


IN_FLIGHT_SECONDS = 5.0  # how long a stop waits for the message or sync in hand
SYNC_EVERY = 10.0  # seconds between syncs when nothing new was learned
RECALL_LIMIT = 5
HANDLED_KEPT = 1000


@dataclass(frozen=True)
class AgentConfig:
    name: str
    token: str
    url: str
    device: str
    folder: Path  # this agent's files on this device
    skills: tuple[str, ...] = ()
    profile: DeviceProfile | None = None  # announced, so asks can route heavy work here
    embedder: str = DEFAULT_SPEC  # how this device's own memory store embeds (CLOUDBRAIN_EMBEDDER)
    trust: Trust = field(default_factory=Trust)  # how a wss:// server proves itself


class AgentRuntime:
    def __init__(self, config: AgentConfig, brain: Brain) -> None:
        self.config = config
        self.brain = brain
        self.local = LocalMemory(config.folder, config.embedder)
        self.client = Client(
            config.url,
            config.name,
            config.token,
            device=config.device,
            capabilities=(ANSWERS_CAPABILITY,),
            skills=config.skills,
            profile=config.profile,
            trust=config.trust,
        )
        self.brain_state = BrainStateManager(self.client, config.folder)
        self._handled: OrderedDict[str, None] = self._load_handled()
        self._learned = asyncio.Event()
        self._sync_lock = asyncio.Lock()
        self._handling = asyncio.Lock()  # held while a message is learned from and answered

    async def run(
        self,
        stop: asyncio.Event,
        jobs: Sequence[Callable[[Client], Coroutine[Any, Any, None]]] = (),
    ) -> None:
        """Serve until ``stop`` is set; then sync what is left and close the session.
        ``jobs`` run alongside, on the agent's connection (flushing its mail outbox, say)."""
        # Connected (and so the token accepted) before anything is written on this device: a
        # refused token leaves no folder, no memory.db behind. The embedder, which writes
        # nothing, is loaded first: once connected, questions may come.
        await self.local.load_embedder()
        try:
            if not await self._connect_unless(stop):
                await self.client.close()
                log.info("%s stopped before a server answered", self.config.name)
                return
            await self.local.open()
        except BaseException:
            await self.client.close()
            raise
        # Before the first answer: bring what this AI learned on other devices here.
        try:
            await self.sync_now()
        except Exception as exc:
            log.warning("first memory sync failed (%s); answering from this device's memory", exc)
        await self.brain_state.load()
        log.info(
            "%s is up on %s (brain: %s)", self.config.name, self.config.device, self.brain.name
        )
        tasks = [
            asyncio.create_task(self._serve(), name="serve"),
            asyncio.create_task(self._keep_syncing(), name="sync"),
            asyncio.create_task(self._answer_questions(), name="questions"),
            *(asyncio.create_task(job(self.client), name="job") for job in jobs),
        ]
        stopping = asyncio.create_task(stop.wait())
        watchdog = asyncio.create_task(report_if_stuck(stop, STUCK_AFTER), name="watchdog")
        try:
            done, _ = await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopping:
                    task.result()  # a crashed loop is an error worth raising
        finally:
            try:
                await self._shut_down([stopping, *tasks])
            finally:
                watchdog.cancel()
            log.info("%s stopped", self.config.name)

    async def _connect_unless(self, stop: asyncio.Event) -> bool:
        """Connect, waiting as long as it takes for a server to answer, unless told to stop
        first (a service manager's SIGTERM must not wait for the network); whether connected."""
        log.info("%s connecting to %s", self.config.name, self.client.url)
        connecting = asyncio.create_task(self.client.connect(wait=True), name="connect")
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([connecting, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not connecting.done():
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connecting
            return False
        connecting.result()  # a refused token raises here
        return True

    async def _shut_down(self, tasks: Sequence[asyncio.Task[Any]]) -> None:
        """Stop the loops, sync what is left, save the brain state, close the connection and
        this device's memory."""
        async with contextlib.AsyncExitStack() as held:
            # What is in flight (a message half learned, a sync half written) ends first: a
            # task cancelled inside a write to this device's SQLite leaves the write lock
            # taken, and the last sync below then waited for it (busy_timeout: 30 s).
            for lock in (self._handling, self._sync_lock):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(IN_FLIGHT_SECONDS):
                        await held.enter_async_context(lock)
            for task in tasks:
                task.cancel()
            # Every one, whatever became of it: a loop that crashed is reported by ``run``.
            await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.sync_now(), 10)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.brain_state.close(), 10)
        await self.client.close()
        await self.local.close()

    async def _serve(self) -> None:
        async for message in self.client.messages():
            if message.id in self._handled:
                continue  # answered before a crash, but not acked: do not answer twice
            async with self._handling:
                if message.kind == "direct" and message.reply_to is None:
                    await self.handle(message)
                self._remember_handled(message.id)

    async def handle(self, message: Message) -> Answer:
        """Learn what the message teaches, then answer it from memory that knows it already:
        a correction is answered with the new value, not the one it replaces."""
        question = message.text
        conversation = message.conversation or message.id
        assert self.local.store is not None
        state = self.brain_state.state
        state.current_task = f"answering {message.sender}: {question[:80]}"
        thread = state.conversations.setdefault(conversation, Conversation())
        facts = await facts_of_message(self.local.store, self.config.name, self.brain, question)
        learned = await self.learn_facts(facts, message, conversation)
        recalled = await self._recall(question)
        started = time.monotonic()
        answer = await self.brain.answer(question, recalled, thread)
        elapsed = time.monotonic() - started
        if model_wrote(answer):
            # A model's own answer is knowledge, and may define a term; a quote of memory is
            # neither (stored, it would be quoted again as if it were news: a quote of a quote).
            learned += await self.learn_facts(extract_facts("", answer.text), message, conversation)
            await self.learn(self._memory(message, conversation, "exchange", question, answer))
        reply = reply_text(answer, learned, asks=asks_anything(question))
        meta: dict[str, object] = {"model": answer.model, "memories": [m.id for m in answer.used]}
        if answer.fallback:
            meta["fallback"] = answer.fallback
        # Learned before replying: whoever has the answer can rely on it being remembered.
        await self.client.reply(message, reply, conversation=conversation, meta=meta)
        self._note_answer(state, thread, question, reply, answer, elapsed)
        return answer

    async def _recall(self, question: str) -> list[MemoryRecord]:
        """This agent's memories for ``question``, best first: the closest, and those nearly
        as close (a note that only shares the subject would be noise in the answer)."""
        assert self.local.store is not None
        found = await self.local.store.search(
            question, RecallFilter(ai=self.config.name), RECALL_LIMIT
        )
        return [r.memory for r in closest_together(found, lambda r: r.why.get("similarity"))]

    async def _answer_questions(self) -> None:
        """Answer the questions of asks put to this agent, one at a time, each within its
        deadline. An ask's question is not stored as a memory: it carries no knowledge of the
        asker's, and the answer is made of what this agent knows already."""
        while True:
            question = await self.client.questions.get()
            left = (question.deadline - datetime.now(UTC)).total_seconds()
            if left <= 0:
                continue  # waited in line past its deadline: the asker has its result
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the cancel
                # that stops this loop, when it comes just as the answer is done.
                async with asyncio.timeout(left):
                    await self.answer_question(question)
            except TimeoutError:
                log.info("no answer to ask %s within its deadline", question.ask)
            except Exception as exc:  # the server is away, or refused: the asker moves on
                log.warning("could not answer ask %s: %s", question.ask, exc)

    async def answer_question(self, question: Question) -> Answer:
        assert self.local.store is not None
        recalled = await self._recall(question.question)
        state = self.brain_state.state
        state.current_task = f"answering an ask of {question.asker}: {question.question[:80]}"
        started = time.monotonic()
        answer = await self.brain.answer(question.question, recalled, Conversation())
        elapsed = time.monotonic() - started
        knows = answer.knows and is_knowledge(answer.text)
        await self.client.answer(
            question,
            answer.text,
            knows=knows,
            confidence=confidence(answer) if knows else 0.0,
            memories=[m.id for m in answer.used],
            model=answer.model,
        )
        state.current_task = None
        state.last_thought = answer.text[:500]
        state.counters["asks_answered"] = state.counters.get("asks_answered", 0) + 1
        for topic in question.topics if knows else ():
            state.topics[topic] = state.topics.get(topic, 0) + 1
        self._spent(answer, elapsed)
        self.brain_state.changed()
        return answer

    def _spent(self, answer: Answer, elapsed: float) -> None:
        spent = self.brain_state.state.performance.setdefault(
            f"{self.config.device}/{answer.model}", Performance()
        )
        spent.answers += 1
        spent.tokens += answer.tokens or 0
        spent.seconds += answer.seconds if answer.seconds is not None else elapsed

    def _note_answer(
        self,
        state: BrainState,
        thread: Conversation,
        question: str,
        reply: str,
        answer: Answer,
        elapsed: float,
    ) -> None:
        thread.turns = [*thread.turns, (question, reply)][-MAX_TURNS:]
        thread.updated_at = datetime.now(UTC)
        if answer.context is not None:
            thread.model, thread.digest, thread.context = (
                answer.model,
                answer.digest,
                answer.context,
            )
        state.current_task = None
        state.last_thought = reply[:500]
        state.counters["answered"] = state.counters.get("answered", 0) + 1
        lowered = question.lower()
        for skill in self.config.skills:
            if skill.lower() in lowered:
                state.topics[skill] = state.topics.get(skill, 0) + 1
        self._spent(answer, elapsed)
        self.brain_state.changed()

    async def learn_facts(
        self, facts: Sequence[Fact | Judged], message: Message, conversation: str
    ) -> list[Learned]:
        """Store each fact once: a repeat raises its count, a contradiction supersedes the
        older fact (which stays, as history), an ignored fact leaves no trace."""
        assert self.local.store is not None

        def record(fact: Fact) -> MemoryRecord:
            provenance: dict[str, JsonValue] = {
                "value": fact.value,
                "source": fact.source,
                "message": message.id,
                "from": message.sender,
            }
            if fact.was:
                provenance["was"] = fact.was
            return MemoryRecord(
                ai=self.config.name,
                session=self.client.session or "",
                device=self.config.device,
                conversation=conversation,
                kind="fact",
                content=fact.text,
                fact_key=fact.key,
                importance=0.7,
                provenance=provenance,
            )

        return await learn_facts(self.local.store, self.config.name, facts, record, self.learn)

    def _memory(
        self, message: Message, conversation: str, kind: Kind, question: str, answer: Answer
    ) -> MemoryRecord:
        return MemoryRecord(
            ai=self.config.name,
            session=self.client.session or "",
            device=self.config.device,
            conversation=conversation,
            kind=kind,
            user_input=question,
            ai_response=answer.text,
            model_used=answer.model,
            importance=0.5 if answer.model != "recall" else 0.2,
            provenance={"message": message.id, "from": message.sender},
        )

    async def learn(self, *records: MemoryRecord) -> None:
        assert self.local.store is not None
        added = await self.local.store.add(records)
        counters = self.brain_state.state.counters
        counters["memories"] = counters.get("memories", 0) + len(added.stored)
        facts = sum(1 for r in records if r.kind == "fact" and r.id in added.stored)
        counters["facts"] = counters.get("facts", 0) + facts
        self._learned.set()

    async def sync_now(self) -> None:
        if not self.client.connected:
            return
        async with self._sync_lock:
            await sync(self.client, self.local)

    async def _keep_syncing(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SYNC_EVERY):  # not wait_for: see _answer_questions
                    await self._learned.wait()
            self._learned.clear()
            try:
                await self.sync_now()
            except Exception as exc:  # offline or the server is restarting: next round
                log.info("memory sync postponed: %s", exc)

    # --- messages already answered ---------------------------------------------------------

    def _load_handled(self) -> OrderedDict[str, None]:
        try:
            ids = json.loads((self.config.folder / "handled.json").read_text())
        except FileNotFoundError:
            ids = []
        return OrderedDict.fromkeys(ids)

    def _remember_handled(self, message_id: str) -> None:
        self._handled[message_id] = None
        while len(self._handled) > HANDLED_KEPT:
            self._handled.popitem(last=False)
        write_atomically(self.config.folder / "handled.json", json.dumps(list(self._handled)))


def confidence(answer: Answer) -> float:
    """How sure an answer is, for ranking among others: a model's answer grounded in recalled
    memories most, a model's alone or the recall brain's (stored text, unchecked) less."""
    if answer.model == "recall":
        return 0.6
    return 0.8 if answer.used else 0.6


async def report_if_stuck(stop: asyncio.Event, after: float) -> None:
    """Log every task still running ``after`` seconds after ``stop`` is set, with where it
    waits: a stop that hangs then says why in the agent's own log."""
    await stop.wait()
    await asyncio.sleep(after)
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            where = io.StringIO()
            task.print_stack(file=where)
            log.warning("still running %.0f s after the stop request: %s", after, where.getvalue())
