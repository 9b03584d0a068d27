"""``cloudbrain demo``: the server plus a small family of specialists with knowledge of their
own, so that ``cloudbrain ask`` has someone to ask on a fresh machine.

Three specialists run here as agents (real WebSocket clients of the server, in this process);
a fourth, hopper, is not running: what an earlier session of hers stored is all there is, and
asks still find it. Everything the demo adds is ordinary data: its agents are in the directory
(`cloudbrain agent revoke NAME` retires one), its memories carry ids derived from their text,
so running the demo again adds nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cloudbrain.cli.options import (
    Db,
    Home,
    Http,
    HttpPort,
    MailDomain,
    Smtp,
    SmtpPort,
    run,
    settings,
)
from cloudbrain.cli.output import console, fail
from cloudbrain.errors import CloudBrainError

if TYPE_CHECKING:
    from cloudbrain.memory.records import MemoryRecord
    from cloudbrain.settings import Settings

SEED = uuid.UUID("6f0b8a43-6d2c-4c55-9a51-52f3c0d6f1a7")  # namespace of the demo's memory ids
ASKER = "you"


@dataclass(frozen=True)
class Specialist:
    name: str
    description: str
    skills: tuple[str, ...]
    device: str
    live: bool
    knowledge: tuple[str, ...]


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


def demo(
    port: int = typer.Option(
        None, help="WebSocket port (env CLOUDBRAIN_PORT; default: 8766).", show_default=False
    ),
    brain: str = typer.Option(
        "auto",
        "--brain",
        "-b",
        help="How the specialists think: ollama, recall (quote their memories) or auto "
        "(ollama when it answers, else recall).",
    ),
    smtp_port: int = SmtpPort,
    mail_domain: str = MailDomain,
    smtp: bool = Smtp,
    http_port: int = HttpPort,
    http: bool = Http,
    db: str = Db,
    home: Path = Home,
) -> None:
    """Run the server with a small family of specialists, ready to be asked.

    ada (python, asyncio), linus (linux, networking) and grace (databases) run here and answer
    live; hopper (kubernetes, docker) is offline: asks find what her earlier sessions stored.
    From another terminal:

      cloudbrain ask "How do I keep asyncio tasks from disappearing?"

      cloudbrain ask "How do I roll back a kubernetes deployment?"

      cloudbrain who

    Ctrl-C stops everything.
    """
    if brain not in ("auto", "ollama", "recall"):
        fail(CloudBrainError(f"unknown brain {brain!r}", hint="use ollama, recall or auto"))
    config = settings(
        home,
        db,
        port=port,
        smtp_port=smtp_port,
        mail_domain=mail_domain,
        smtp=smtp,
        http_port=http_port,
        http=http,
    )
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    for noisy in ("websockets", "alembic.runtime.migration", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        run(_demo(config, brain))
    except OSError as exc:
        fail(
            CloudBrainError(
                f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
                hint="is a server already running there? stop it, or pick another --port",
            )
        )


async def _demo(config: Settings, brain: str) -> None:
    from cloudbrain.agent.brains import RecallBrain
    from cloudbrain.agent.brains.ollama import DEFAULT_MODEL, DEFAULT_URL, OllamaBrain
    from cloudbrain.agent.runtime import AgentConfig, AgentRuntime
    from cloudbrain.credentials import MissingCredentials, resolve, save
    from cloudbrain.db import create_engine, upgrade
    from cloudbrain.identity import create_agent, get_agent
    from cloudbrain.memory.embedding import available_embedder
    from cloudbrain.memory.store import MemoryStore
    from cloudbrain.server import Server

    await asyncio.to_thread(upgrade, config.db_url)
    engine = create_engine(config.db_url)
    tokens: dict[str, str] = {}
    try:
        for member in (None, *FAMILY):  # the asker first: the default when there is none
            name = member.name if member else ASKER
            try:
                tokens[name] = resolve(config.home, name, None).token
                continue
            except MissingCredentials:
                pass
            if await get_agent(engine, name) is not None:
                raise CloudBrainError(
                    f"agent {name!r} exists but its token is not saved under {config.home}",
                    hint="run the demo with another --home (or CLOUDBRAIN_HOME)",
                )
            _, tokens[name] = await create_agent(
                engine,
                name,
                description=member.description if member else "you, asking from the CLI",
                skills=list(member.skills) if member else [],
            )
            save(config.home, name, tokens[name])
        embedder, _ = await asyncio.to_thread(available_embedder, config.embedder)
        await MemoryStore(engine, embedder).add(seed_memories(datetime.now(UTC)))
    finally:
        await engine.dispose()

    async with Server(config) as server:
        runtimes = []
        for member in FAMILY:
            if not member.live:
                continue
            runtime = AgentRuntime(
                AgentConfig(
                    name=member.name,
                    token=tokens[member.name],
                    url=server.url,
                    device=member.device,
                    folder=config.home / "agents" / member.name / member.device,
                    skills=member.skills,
                ),
                RecallBrain(),
            )
            if brain != "recall":
                thinker = OllamaBrain(member.name, url=DEFAULT_URL, model=DEFAULT_MODEL)
                if brain == "ollama" or await thinker.available() is None:
                    runtime.brain = thinker
            runtimes.append(runtime)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        tasks = [asyncio.create_task(r.run(stop), name=r.config.name) for r in runtimes]
        thinking = {r.brain.name for r in runtimes}
        console.print(
            f"[bold]CloudBrain[/] demo on [cyan]{server.url}[/]: "
            f"{', '.join(r.config.name for r in runtimes)} online "
            f"(brain: {', '.join(sorted(thinking))}), hopper offline with stored knowledge.\n"
            f'Try, from another terminal:  [bold]cloudbrain ask "How do I keep asyncio tasks '
            f'from disappearing?"[/]\n'
            + (
                f"or mail [bold]ask@{config.mail_domain}[/] from {ASKER}@{config.mail_domain} "
                f"via smtp://{config.host}:{server.smtp_port} and read the answer with "
                "[bold]cloudbrain maildir read --server[/]\n"
                if server.gateway is not None
                else ""
            )
            + "(Ctrl-C stops the demo.)",
            highlight=False,
        )
        await stop.wait()
        await asyncio.gather(*tasks, return_exceptions=True)


def seed_memories(now: datetime) -> list[MemoryRecord]:
    """The family's knowledge as memories of earlier sessions, with ids made from their
    text: storing them again adds nothing."""
    from cloudbrain.memory.records import MemoryRecord

    found = []
    for age, member in enumerate(FAMILY, start=1):
        session = str(uuid.uuid5(SEED, f"{member.name}/session"))
        for position, text in enumerate(member.knowledge):
            found.append(
                MemoryRecord(
                    id=str(uuid.uuid5(SEED, f"{member.name}/{text}")),
                    ai=member.name,
                    session=session,
                    device=member.device,
                    kind="note",
                    content=text,
                    importance=0.7,
                    provenance={"source": "cloudbrain demo"},
                    created_at=now - timedelta(days=age, minutes=position),
                )
            )
    return found
