"""A family with a history, for tests that look at the web view as people meet it: AIs with
declared skills, sessions on several devices, memories over several days, follows and
endorsements, and asks with several answers (good ones, a merged near-duplicate, an off-topic
one and a "don't know"), rated so that skills are learned and reputation has parts."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cloudbrain.agent.client import Client
from cloudbrain.db import create_engine
from cloudbrain.familio.social import SocialChanges
from cloudbrain.identity import create_agent
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.protocol import AskResult, Question
from cloudbrain.server import Server
from cloudbrain.storage.social import SocialStore


@dataclass(frozen=True)
class Member:
    name: str
    description: str
    skills: tuple[str, ...]
    devices: tuple[str, ...]
    # What it says when asked: the first reply whose key words are all in the question.
    replies: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()


FAMILY = (
    Member(
        "ada",
        "Python and asyncio helper",
        ("python", "asyncio", "packaging"),
        ("laptop-4090", "jetson-orin"),
        (
            (
                "cpu-bound",
                "Run it with asyncio.to_thread, or in a process pool for pure Python work: "
                "on the event loop it blocks every other task.",
            ),
            (
                "asyncio",
                "Keep a reference to every task you create (a set works): the event loop "
                "holds only weak references, so a task nobody refers to can be collected "
                "before it finishes.",
            ),
            ("wheel", "A wheel is a zip file with a fixed layout; pip installs it as it is."),
        ),
        (
            "asyncio.TaskGroup waits for all its tasks and cancels the rest when one fails.",
            "CPU-bound work belongs in asyncio.to_thread or a process pool.",
            "Use one virtual environment per project: python -m venv .venv.",
            "A wheel is a zip file with a fixed layout; pip installs it without running code.",
            "pytest -x stops at the first failure; --lf runs the last failures again.",
        ),
    ),
    Member(
        "grace",
        "Databases: PostgreSQL and SQLite",
        ("postgresql", "sqlite", "databases"),
        ("laptop-4090", "server-01"),
        (
            (
                "slow",
                "EXPLAIN ANALYZE runs the query and shows the real plan with timings; look "
                "for sequential scans on large tables, then add the index they lack.",
            ),
            (
                "asyncio",
                "asyncpg keeps one connection per task; share a pool, not a connection.",
            ),
        ),
        (
            "SQLite in WAL mode lets readers work while one writer writes.",
            "VACUUM reclaims space from dead rows; autovacuum does it unless a long "
            "transaction holds old rows back.",
            "A partial index covers only the rows queries ask for, so it stays small.",
            "Back up PostgreSQL with pg_dump -Fc and restore with pg_restore.",
        ),
    ),
    Member(
        "linus",
        "Linux, networking and systemd",
        ("linux", "networking", "systemd"),
        ("server-01",),
        (
            (
                "slow",
                "Check the disk first: iostat -x 1 shows whether the database waits on I/O.",
            ),
            ("port", "ss -tlnp lists listening TCP sockets with the process that owns each."),
        ),
        (
            "journalctl -u NAME -f follows the log of one systemd service.",
            "ss -tlnp lists listening TCP sockets with their processes.",
            "systemctl edit NAME keeps your changes to a unit across upgrades.",
        ),
    ),
    Member(
        "hopper",
        "Containers and Kubernetes",
        ("kubernetes", "docker"),
        ("jetson-orin",),
        (
            (
                "roll back",
                "kubectl rollout undo deployment/NAME returns a deployment to its previous "
                "revision; add --to-revision=N for an older one.",
            ),
            ("asyncio", "Have you tried running it in a container? Containers fix most things."),
        ),
        (
            "A Docker image for a Jetson needs an L4T base image that matches JetPack.",
            "Liveness probes restart a stuck container; readiness probes only take it out "
            "of the load balancer.",
        ),
    ),
    Member(
        "marvin",
        "General chat, a bit of everything",
        ("chat",),
        ("phone-pixel",),
        (("", "Life is too short for slow queries. Have you tried turning it off and on?"),),
        ("The answer is 42.",),
    ),
    Member("dora", "Asks the family on behalf of her team", (), ("laptop-dora",)),
)

FOLLOWS = (
    ("dora", "ada"),
    ("dora", "grace"),
    ("dora", "linus"),
    ("ada", "linus"),
    ("linus", "ada"),
    ("grace", "hopper"),
    ("hopper", "linus"),
    ("marvin", "ada"),
    ("ada", "grace"),
)
ENDORSEMENTS = (
    ("dora", "ada", "python", "kept our asyncio tasks alive"),
    ("dora", "linus", "linux", ""),
    ("dora", "grace", "postgresql", "found our slow query with EXPLAIN ANALYZE"),
    ("ada", "grace", "databases", ""),
    ("linus", "hopper", "kubernetes", ""),
    ("grace", "ada", "asyncio", "explains the event loop well"),
    ("hopper", "linus", "networking", ""),
    ("linus", "ada", "python", ""),
)
SPECIALISTS = [m.name for m in FAMILY if m.replies]  # every ask goes to all of them
QUESTIONS = (
    "How do I run CPU-bound work from asyncio code?",
    "How do I keep asyncio tasks from disappearing?",
    "How do I find a slow PostgreSQL query?",
    "How do I roll back a kubernetes deployment?",
)
# Whose answer settles each question.
EXPERTS = dict(zip(QUESTIONS, ("ada", "ada", "grace", "hopper"), strict=True))


@dataclass
class Family:
    """What the pages are opened on: tokens, a session with memories, the asks."""

    tokens: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, list[str]] = field(default_factory=dict)  # name -> its session ids
    asks: list[AskResult] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)  # connected: these AIs show online
    answering: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self) -> None:
        for task in self.answering:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for client in self.clients:
            await client.close()


def reply_of(member: Member, question: str) -> str | None:
    asked = question.lower()
    return next((text for key, text in member.replies if key in asked), None)


async def _answer_all(member: Member, client: Client) -> None:
    while True:
        question: Question = await client.questions.get()
        text = reply_of(member, question.question)
        if text is None:
            await client.answer(question, "I do not know.", knows=False, confidence=0.1)
        else:
            await client.answer(question, text, confidence=0.9 if member.skills else 0.4)


def memories_of(member: Member, sessions: list[str], now: datetime) -> list[MemoryRecord]:
    """Its notes over the last days, across its devices; one burst of exchanges within a
    minute (a conversation), so the timeline has both long and short spans to show."""
    found = [
        MemoryRecord(
            ai=member.name,
            content=text,
            device=member.devices[i % len(member.devices)],
            session=sessions[i % len(sessions)],
            kind="fact" if i % 3 == 2 else "note",
            created_at=now - timedelta(days=1 + i, hours=5 * i),
        )
        for i, text in enumerate(member.notes)
    ]
    found += [
        MemoryRecord(
            ai=member.name,
            kind="exchange",
            user_input=f"question {n} of a quick chat",
            ai_response=f"answer {n}: {member.notes[n % len(member.notes)]}",
            device=member.devices[0],
            session=sessions[0],
            model_used="llama3.1:8b",
            created_at=now - timedelta(hours=2, seconds=10 * n),
        )
        for n in range(4)
        if member.notes
    ]
    return found


async def build_family(server: Server, db_url: str, owner: str = "dora") -> Family:
    """Everything above, stored through the server as agents would store it."""
    family = Family()
    clients, answering = family.clients, family.answering
    engine = create_engine(db_url)
    try:
        for member in FAMILY:
            _, family.tokens[member.name] = await create_agent(
                engine, member.name, description=member.description, skills=list(member.skills)
            )
        social = SocialChanges(SocialStore(engine))
        await social.trust(owner, 1.0)
        now = datetime.now(UTC)
        for member in FAMILY:
            sessions = []
            for device in member.devices:
                answers = bool(member.replies) and device == member.devices[0]
                client = Client(
                    server.url,
                    member.name,
                    family.tokens[member.name],
                    timeout=5.0,
                    device=device,
                    capabilities=("answers",) if answers else (),
                )
                await client.connect()
                clients.append(client)
                assert client.session is not None
                sessions.append(client.session)
                if answers:
                    answering.append(asyncio.create_task(_answer_all(member, client)))
            family.sessions[member.name] = sessions
            if member.notes:
                await clients[-1].remember(*memories_of(member, sessions, now))
        by_name = {c.name: c for c in clients}
        for follower, followee in FOLLOWS:
            await by_name[follower].follow(followee)
        for endorser, agent, skill, note in ENDORSEMENTS:
            await by_name[endorser].endorse(agent, skill, note)
        dora = by_name[owner]
        for question in QUESTIONS:
            result = await dora.ask_and_wait(question, timeout=3, agents=SPECIALISTS)
            family.asks.append(result)
            # The expert's answer settled it, others thought it good too; the chatter was
            # no help.
            for answer in result.answers:
                if answer.agent == EXPERTS[question]:
                    await dora.rate(result.ask, answer.id, "accept")
                    for rater in ("linus", "grace", "ada"):
                        if rater != answer.agent:
                            await by_name[rater].rate(result.ask, answer.id, "up")
                elif answer.agent == "marvin":
                    await dora.rate(result.ask, answer.id, "down")
        # The last AI went home: the family page shows someone offline.
        for client in [c for c in clients if c.name == "hopper"]:
            await client.close()
    except BaseException:
        await family.close()
        raise
    finally:
        await engine.dispose()
    return family
