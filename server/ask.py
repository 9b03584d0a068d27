"""Asking the family: choose specialists, put the question to the live ones, answer for the
others from their memories, stream answers to the asker, and end with one ranked result.

An ask runs as a task of its own, so the asker's connection goes on while it waits. It ends
when every live specialist answered or the deadline passed, whichever is first; a specialist
that does not answer in time is named in ``missing`` and answered for from its memories, and so
is one that takes questions on another node this one cannot reach (Redis away, say). When
the asker disconnects, its asks are cancelled and nothing more is sent or stored for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from cloudbrain.db.types import utcnow
from cloudbrain.directory.aggregate import aggregate, relevance, summarize
from cloudbrain.directory.ask_machine import AskMachine
from cloudbrain.directory.ask_plan import (
    Recall,
    knowledge,
    live_shortfall,
    plan_routing,
    question_topics,
    shortfalls,
)
from cloudbrain.directory.knowing import (
    NO_ANSWER,
    floor_for,
)
from cloudbrain.directory.selection import reputation_for, select_specialists
from cloudbrain.errors import ErrorCode, ProtocolError
from cloudbrain.ids import new_id
from cloudbrain.memory.store import MemoryStore, Recalled, RecallFilter
from cloudbrain.protocol import (
    AgentInfo,
    Answer,
    Ask,
    AskAnswer,
    AskAnswered,
    AskFinish,
    AskList,
    AskResult,
    Asks,
    AskStarted,
    Ok,
    Question,
    Rate,
    Specialist,
)
from cloudbrain.server.ask_memories import MemoryAnswers
from cloudbrain.server.ask_window import window_answers
from cloudbrain.server.directory import DirectoryStore
from cloudbrain.server.handlers import Handlers, refusal
from cloudbrain.server.metrics import Metrics
from cloudbrain.server.session import LiveSession, Peer
from cloudbrain.server.summary import OllamaSummarizer
from cloudbrain.storage.asks import AskStore

log = logging.getLogger(__name__)


@dataclass
class OpenAsk:
    """An ask waiting for live answers: ``machine`` says from whom and until when; ``asked``
    names the session each specialist was asked on, the only one whose answer counts. None
    in ``arrived`` wakes the wait when the asker finishes the ask."""

    id: str
    asker: LiveSession
    machine: AskMachine
    asked: dict[str, Peer] = field(default_factory=dict)
    arrived: asyncio.Queue[tuple[Peer, Answer] | None] = field(default_factory=asyncio.Queue)

    def expects(self, session: Peer) -> bool:
        name = session.agent.name
        return self.machine.expects(name) and self.asked.get(name) is session


class AskService:
    def __init__(
        self,
        store: AskStore,
        directory: DirectoryStore,
        memory: MemoryStore,
        answering_session: Callable[[str], Peer | None],
        summarizer: OllamaSummarizer | None = None,
        max_open_per_session: int = 8,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.store = store
        self.directory = directory
        self.memory = memory
        self.stored = MemoryAnswers(memory)
        self.answering_session = answering_session  # agent name -> a session taking questions
        self.summarizer = summarizer
        # Every open ask costs recall and scoring on this process's one event loop: a session
        # that opens hundreds at once would make every other agent wait.
        self.max_open_per_session = max_open_per_session
        self._open: dict[str, OpenAsk] = {}
        self._tasks: dict[LiveSession, set[asyncio.Task[str]]] = defaultdict(set)
        # Set in a cluster: sends an answer for an ask of another node there (True if so).
        self.forward: Callable[[LiveSession, Answer], bool] | None = None

    # --- requests -------------------------------------------------------------------------

    def handlers(self) -> Handlers:
        return {
            Ask: self.start,
            AskFinish: self.finish_now,
            Answer: self.take_answer,
            Rate: self.rate,
            Asks: self.listing,
        }

    async def start(self, session: LiveSession, frame: Ask) -> None:
        """Start an ask; what it finds is sent as it comes (started, answers, the result)."""
        if len(self._tasks[session]) >= self.max_open_per_session:
            raise ProtocolError(
                ErrorCode.BUSY,
                f"{self.max_open_per_session} asks of this session are still open; "
                "ask again when one has ended",
            )
        started = time.monotonic()
        task = asyncio.create_task(self._run(session, frame), name=f"ask-{frame.id}")
        self._tasks[session].add(task)
        task.add_done_callback(lambda t: self._finished(session, frame, t, started))

    async def finish_now(self, session: LiveSession, frame: AskFinish) -> Ok:
        """The asker takes the answers that are in; its result follows at once."""
        open_ask = self._open.get(frame.ask)
        if open_ask is None or open_ask.asker is not session:
            raise ProtocolError(
                ErrorCode.NOT_FOUND,
                "no ask of this session with that id is waiting for answers (it has ended)",
            )
        open_ask.machine.finish()
        open_ask.arrived.put_nowait(None)
        return Ok(re=frame.id)

    def cancel_for(self, session: LiveSession) -> None:
        """The asker left: its asks stop where they are."""
        for task in self._tasks.pop(session, set()):
            task.cancel()

    async def take_answer(self, session: LiveSession, frame: Answer) -> Ok | None:
        return self.answer(session, frame)

    def answer(self, session: Peer, frame: Answer) -> Ok | None:
        """A specialist's answer to a question put to it (None: forwarded to the node that
        asked, which replies)."""
        open_ask = self._open.get(frame.ask)
        if (
            open_ask is None
            and isinstance(session, LiveSession)
            and self.forward is not None
            and self.forward(session, frame)
        ):
            return None
        if open_ask is None or not open_ask.expects(session):
            raise ProtocolError(
                ErrorCode.NOT_FOUND,
                "no open ask put this question to this session (answered already, or past its "
                "deadline)",
            )
        open_ask.arrived.put_nowait((session, frame))
        return Ok(re=frame.id)

    async def record_rating(self, ask: str, answer: str, rater: str, verdict: str) -> bool:
        """Store a rating (False: no such answer). The directory shows it at once; what it
        teaches counts once reputation is next worked out."""
        rated = await self.store.rate(ask, answer, rater, verdict)
        self.directory.forget_history()
        return rated

    async def rate(self, session: LiveSession, frame: Rate) -> Ok:
        rated = await self.record_rating(frame.ask, frame.answer, session.agent.name, frame.verdict)
        if not rated:
            raise ProtocolError(
                ErrorCode.NOT_FOUND,
                "that ask has no answer with that id; `cloudbrain asks` lists them",
            )
        return Ok(re=frame.id)

    async def listing(self, session: LiveSession, frame: Asks) -> AskList:
        results = await self.store.listing(
            frame.limit, asker=session.agent.name if frame.mine else None
        )
        return AskList(re=frame.id, asks=results)

    # --- one ask ----------------------------------------------------------------------------

    async def _run(self, session: LiveSession, frame: Ask) -> str:
        """Run the ask; returns how it ended (see :attr:`Metrics.asks`)."""
        started = time.monotonic()
        ask_id, asker = frame.ask_id or new_id(), session.agent.name
        if frame.ask_id is not None and await self._answered_before(session, frame):
            return "repeated"
        deadline = utcnow() + timedelta(seconds=frame.timeout)
        listed = await window_answers(self.memory, frame, asker, utcnow())
        if listed is not None:
            session.send(
                AskStarted(
                    re=frame.id,
                    ask=ask_id,
                    topics=[],
                    specialists=listed.specialists,
                    deadline=deadline,
                ).to_json()
            )
            ranked = aggregate(listed.answers)
            return await self._finish(
                session,
                frame,
                started,
                AskResult(
                    ask=ask_id,
                    specialists=listed.specialists,
                    answers=ranked,
                    nobody_knows=not any(a.knows for a in ranked),
                    shortfalls=listed.shortfalls,
                ),
            )
        where = RecallFilter(since=frame.since, until=frame.until)
        profiles = await self.directory.profiles()
        floor = floor_for(self.memory.embedder.name if self.memory.embedder else None)
        topics, specialists, pool = await self._choose(frame, asker, profiles, where, floor)
        standing = {p.name: reputation_for(p, topics) for p in profiles}
        session.send(
            AskStarted(
                re=frame.id, ask=ask_id, topics=topics, specialists=specialists, deadline=deadline
            ).to_json()
        )
        answers: list[AskAnswer] = []

        question_vector = await self.memory.query_vector(frame.question)  # the one recall used

        fell_short: dict[str, str] = {}  # AI -> why it did not answer with knowledge

        closeness: dict[str, float] = {}  # answer id -> its best memory's similarity

        async def add(answer: AskAnswer) -> AskAnswer:
            # An answer from memories is as close as its best memory, which recall measured;
            # only live answers are embedded here.
            known = closeness.get(answer.id)
            cosine = (
                known
                if known is not None
                else await self.stored.closeness(question_vector, answer.text)
            )
            # Memory answers were held to the floor memory by memory (see answer_for).
            why_not = (
                live_shortfall(answer.knows, cosine, floor) if answer.source == "live" else None
            )
            if why_not is not None:
                fell_short[answer.agent] = why_not
            scored = answer.model_copy(
                update={
                    "knows": answer.knows and why_not is None,
                    "relevance": relevance(frame.question, answer.text, cosine),
                    "reputation": standing.get(answer.agent, answer.reputation),
                }
            )
            answers.append(scored)
            session.send(AskAnswered(re=frame.id, ask=ask_id, answer=scored).to_json())
            return scored

        async def from_memories(agent: str) -> None:
            found, why_not, similarity = await self.stored.answer_for(
                agent, frame.question, where, pool, floor
            )
            if found is not None:
                if similarity is not None:
                    closeness[found.id] = similarity
                scored = await add(found)
                machine.answered_from_memories(scored.knows)
            else:
                fell_short.setdefault(agent, why_not)

        question = Question(
            ask=ask_id, question=frame.question, asker=asker, topics=topics, deadline=deadline
        )
        live = {
            s.agent: answering
            for s in specialists
            if s.live and (answering := self.answering_session(s.agent)) is not None
        }
        # Online to take questions as far as the database knows, yet with no session this node
        # can put the question to: another node's, out of reach for now. The result must say
        # they could not answer, not leave them out.
        unreachable = (
            set()
            if frame.own
            else await self.directory.taking_questions(
                [s.agent for s in specialists if s.agent not in live and s.agent != asker]
            )
        )
        if unreachable:
            log.warning(
                "ask %s: %s take(s) questions on a node this one cannot reach now; answered "
                "from memories",
                ask_id,
                ", ".join(sorted(unreachable)),
            )
        routing = plan_routing(
            frame.question,
            frame.complexity,
            {name: (session.profile, session.device) for name, session in live.items()},
            {(p.name, d.device): d.tokens_per_second for p in profiles for d in p.devices},
        )
        machine = AskMachine.start(
            routing.first,
            routing.fallback,
            asyncio.get_running_loop().time(),
            frame.timeout - (time.monotonic() - started),
            frame.enough,
        )
        open_ask = OpenAsk(ask_id, session, machine)

        def put(name: str) -> None:
            open_ask.asked[name] = live[name]
            live[name].send(question.to_json())

        self._open[ask_id] = open_ask
        try:
            for name in routing.first:
                put(name)
            for specialist in specialists:
                if specialist.agent not in live and specialist.agent not in unreachable:
                    await from_memories(specialist.agent)
            await self._collect(open_ask, put, add)
        finally:
            del self._open[ask_id]
        routing.failovers = machine.failovers
        missing = sorted({*machine.missing, *unreachable})
        for name in missing:  # not in time, or out of reach: what they stored still counts
            fell_short[name] = NO_ANSWER
            await from_memories(name)
        ranked = aggregate(answers)
        knowing = {a.agent for a in ranked if a.knows}
        return await self._finish(
            session,
            frame,
            started,
            AskResult(
                ask=ask_id,
                topics=topics,
                specialists=specialists,
                answers=ranked,
                nobody_knows=not knowing,
                shortfalls=shortfalls(fell_short, knowing, _recall(pool), floor),
                missing=missing,
                routing=routing,
            ),
        )

    async def _finish(
        self, session: LiveSession, frame: Ask, started: float, result: AskResult
    ) -> str:
        """Summarize the ranked answers, store the ask and send its result; returns whether
        anyone knew (``answered``) or not (``nobody_knows``)."""
        summary, summary_by = summarize(result.answers), "extractive"
        if self.summarizer is not None and (
            written := await self.summarizer.summarize(frame.question, result.answers)
        ):
            summary, summary_by = written, self.summarizer.name
        result = result.model_copy(
            update={
                "re": frame.id,
                "question": frame.question,
                "asker": session.agent.name,
                "at": utcnow(),
                "summary": summary,
                "summary_by": summary_by,
                "seconds": round(time.monotonic() - started, 3),
            }
        )
        # Shielded: an asker leaving cancels its asks, and a write cancelled halfway can keep its
        # connection, and SQLite's write lock, checked out (see server/housekeeping.py).
        await asyncio.shield(self.store.save(result, frame))
        session.send(result.to_json())
        return "nobody_knows" if result.nobody_knows else "answered"

    async def _answered_before(self, session: LiveSession, frame: Ask) -> bool:
        """An ask with the asker's own id that was asked before gets its stored result again
        (or an error, when someone else's ask has that id): an asker that asks again after a
        crash is answered once."""
        assert frame.ask_id is not None
        earlier = await self.store.get(frame.ask_id)
        if earlier is None:
            return False
        if earlier.asker != session.agent.name:
            raise ProtocolError(
                ErrorCode.DUPLICATE_ID, "another AI's ask already has this ask_id; make a new one"
            )
        session.send(earlier.model_copy(update={"re": frame.id}).to_json())
        return True

    async def _choose(
        self,
        frame: Ask,
        asker: str,
        profiles: list[AgentInfo],
        where: RecallFilter,
        floor: float,
    ) -> tuple[list[str], list[Specialist], list[Recalled]]:
        """The question's topics, the specialists to ask (see :mod:`selection`), and the
        memories that best match the question, whoever stored them. Only memories close
        enough to the question to answer it (see :mod:`knowing`) count as knowledge."""
        unknown = sorted(set(frame.agents) - {p.name for p in profiles})
        if unknown:  # not "nobody knows": nobody of that name is there to know anything
            raise ProtocolError(
                ErrorCode.UNKNOWN_RECIPIENT, f"no AI named {', '.join(map(repr, unknown))}"
            )
        topics = question_topics(frame.question, frame.skills, profiles)
        if frame.own:
            return topics, [Specialist(agent=asker, live=False, score=1.0, why={"own": 1.0})], []
        recalled = await self.stored.pool(frame.question, where)
        candidates = [
            p for p in profiles if p.name != asker and (not frame.agents or p.name in frame.agents)
        ]
        answering = {p.name for p in candidates if self.answering_session(p.name) is not None}
        weight = knowledge(_recall(recalled), floor)
        chosen = select_specialists(
            candidates, topics, weight, answering, frame.max_specialists, named=bool(frame.agents)
        )
        return topics, chosen, recalled

    async def _collect(
        self,
        open_ask: OpenAsk,
        put: Callable[[str], None],
        add: Callable[[AskAnswer], Awaitable[AskAnswer]],
    ) -> None:
        """Take live answers, and put the question to fallbacks, as long as the ask's machine
        (see :mod:`ask_machine`) says; it is fed this loop's clock."""
        loop, machine = asyncio.get_running_loop(), open_ask.machine
        while True:
            now = loop.time()
            for name in machine.advance(now):
                put(name)
            if machine.done(now):
                return
            try:
                arrived = await asyncio.wait_for(open_ask.arrived.get(), machine.wake_at() - now)
            except TimeoutError:
                continue
            if arrived is None:  # finished by the asker: done says so
                continue
            live, frame = arrived
            if not open_ask.expects(live):
                continue
            scored = await add(
                AskAnswer(
                    id=new_id(),
                    agent=live.agent.name,
                    source="live",
                    text=frame.text,
                    knows=frame.knows,
                    confidence=frame.confidence,
                    session=live.id,
                    device=live.device,
                    at=utcnow(),
                    model=frame.model,
                    memories=list(frame.memories),
                )
            )
            machine.answered(live.agent.name, scored.knows)

    def _finished(
        self, session: LiveSession, frame: Ask, task: asyncio.Task[str], started: float
    ) -> None:
        tasks = self._tasks.get(session)
        if tasks is not None:
            tasks.discard(task)
            if not tasks:
                del self._tasks[session]
        exc = None if task.cancelled() else task.exception()
        outcome = "cancelled" if task.cancelled() else "failed" if exc else task.result()
        self.metrics.asks.labels(outcome=outcome).inc()
        self.metrics.ask_seconds.observe(time.monotonic() - started)
        if exc is None:
            return
        if not isinstance(exc, ProtocolError):
            log.error("ask failed", exc_info=exc)
            exc = ProtocolError(ErrorCode.INTERNAL, f"the ask failed: {exc}")
        self.metrics.error(exc.code)
        with contextlib.suppress(Exception):  # the asker may be gone
            session.send(refusal(frame, exc).to_json())


def _recall(pool: list[Recalled]) -> list[Recall]:
    return [(r.memory.ai, r.why.get("similarity"), r.score) for r in pool]
