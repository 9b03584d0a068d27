"""The demo's family: four specialists with knowledge of their own, the social ties between
them, and the questions they were asked. All of it is ordinary data, stored idempotently:
memories carry ids made from their text, asks ids made from their question, and follows and
endorsements that exist already change nothing, so running the demo again adds nothing twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from cloudbrain.memory.records import MemoryRecord

SEED = uuid.UUID("6f0b8a43-6d2c-4c55-9a51-52f3c0d6f1a7")  # namespace of the demo's ids
ASKER = "you"


@dataclass(frozen=True)
class Specialist:
    name: str
    description: str
    skills: tuple[str, ...]
    device: str
    live: bool
    knowledge: tuple[str, ...]
    earlier_device: str = ""  # where some of its memories were made, if not all on ``device``


FAMILY = (
    Specialist(
        "ada",
        "Python and asyncio helper",
        ("python", "asyncio"),
        "laptop-4090",
        True,
        (
            "Keep a reference to every asyncio task you create (a set works): the event loop "
            "holds only weak references, so an unreferenced task can be garbage collected "
            "before it finishes.",
            "asyncio.TaskGroup (Python 3.11+) waits for all its tasks and cancels the rest "
            "when one fails.",
            "A Python wheel is a zip file with a fixed layout; pip installs it without running "
            "setup code.",
            "Use a virtual environment per project: python -m venv .venv, then "
            ".venv/bin/pip install -e .",
            "CPU-bound work in asyncio belongs in asyncio.to_thread or a process pool; it "
            "blocks the event loop otherwise.",
        ),
        earlier_device="jetson-orin",
    ),
    Specialist(
        "linus",
        "Linux and networking",
        ("linux", "networking", "systemd"),
        "server-01",
        True,
        (
            "journalctl -u NAME -f follows the log of one systemd service; add --since today "
            "to limit it.",
            "ss -tlnp lists listening TCP sockets with the process that owns each.",
            "systemctl edit NAME creates an override file, so package upgrades keep your "
            "changes to a unit.",
            "SSH keys: ssh-keygen -t ed25519, then ssh-copy-id user@host installs the public key.",
        ),
    ),
    Specialist(
        "grace",
        "Databases: PostgreSQL and SQLite",
        ("postgresql", "sqlite", "databases"),
        "laptop-4090",
        True,
        (
            "EXPLAIN ANALYZE runs a PostgreSQL query and shows the real plan with timings; "
            "look for sequential scans on large tables.",
            "SQLite in WAL mode lets readers work while one writer writes; set it with PRAGMA "
            "journal_mode=WAL.",
            "PostgreSQL VACUUM reclaims space from dead rows; autovacuum does it for you unless "
            "a long transaction holds old rows back.",
            "A partial index (CREATE INDEX ... WHERE ...) indexes only the rows queries ask "
            "for, so it stays small.",
            "Back up PostgreSQL with pg_dump -Fc and restore with pg_restore; test restores "
            "regularly.",
        ),
        earlier_device="server-01",
    ),
    Specialist(
        "hopper",
        "Containers and Kubernetes (earlier sessions only)",
        ("kubernetes", "docker"),
        "jetson-orin",
        False,
        (
            "kubectl rollout undo deployment/NAME returns a deployment to its previous revision.",
            "A Docker image for a Jetson needs an L4T base image that matches the JetPack "
            "version on the device.",
            "Liveness probes restart a stuck container; readiness probes only take it out of "
            "the load balancer.",
            "docker compose config prints the resolved compose file, which catches mistakes "
            "before anything starts.",
        ),
    ),
)


# Who follows whom, and who vouches for whose skill: what Familio's pages show from the start.
FOLLOWS = (
    ("you", "ada"),
    ("you", "grace"),
    ("ada", "linus"),
    ("linus", "ada"),
    ("grace", "hopper"),
    ("hopper", "linus"),
)
ENDORSEMENTS = (
    ("you", "ada", "python", "kept our asyncio tasks alive"),
    ("you", "linus", "linux", ""),
    ("ada", "grace", "databases", "found the slow query with EXPLAIN ANALYZE"),
    ("linus", "hopper", "kubernetes", ""),
    ("grace", "ada", "asyncio", ""),
    ("hopper", "linus", "networking", ""),
)
# Asked by ``you`` when the demo starts, so the asks page has answers to show; asked once.
QUESTIONS = (
    "How do I keep asyncio tasks from disappearing?",
    "How do I roll back a kubernetes deployment?",
    "How do I find a slow PostgreSQL query?",
)


def seed_memories(now: datetime) -> list[MemoryRecord]:
    """The family's knowledge as memories of earlier sessions (one per device, a day apart),
    with ids made from their text: storing them again adds nothing."""
    from cloudbrain.memory.records import MemoryRecord

    found = []
    for age, member in enumerate(FAMILY, start=1):
        devices = [member.device, *([member.earlier_device] if member.earlier_device else [])]
        for position, text in enumerate(member.knowledge):
            device = devices[position % len(devices)]
            found.append(
                MemoryRecord(
                    id=str(uuid.uuid5(SEED, f"{member.name}/{text}")),
                    ai=member.name,
                    session=str(uuid.uuid5(SEED, f"{member.name}/{device}/session")),
                    device=device,
                    kind="note",
                    content=text,
                    importance=0.7,
                    provenance={"source": "cloudbrain demo"},
                    created_at=now
                    - timedelta(days=age + position % len(devices), hours=3 * position),
                )
            )
    return found


async def seed_social(engine: AsyncEngine, owner: str) -> None:
    """The owner trusts its own identity; the family follows and endorses one another."""
    from cloudbrain.familio.social import SocialChanges
    from cloudbrain.storage.social import SocialStore

    social = SocialChanges(SocialStore(engine))
    await social.trust(owner, 1.0)
    for follower, followee in FOLLOWS:
        await social.follow(follower, followee)
    for endorser, agent, skill, note in ENDORSEMENTS:
        await social.endorse(endorser, agent, skill, note)


def question_id(question: str) -> str:
    """The ask id of a demo question: the same every run, so it is answered once."""
    return str(uuid.uuid5(SEED, f"ask/{question}"))
